pub mod generated;
pub use generated::*;
