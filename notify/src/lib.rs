//! The notifier: a KakaoTalk (AlimTalk) or SMS message to the customer at every status change
//! of their order, and to the store owner when a paid order arrives.
//!
//! - [`template`]: every message's Korean text, AlimTalk code and `#{...}` parameters.
//! - [`consumer`]: [`Notifier`], the event consumer that records messages (never sends).
//! - [`records`]: the `notifications` table, unique per event, recipient and channel, and
//!   the claims that keep replicas from sending one message twice.
//! - [`preferences`]: the customer's channels and quiet hours (Asia/Seoul).
//! - [`dispatcher`]: [`Dispatcher`], which claims and sends, and sheds under load.
//! - [`provider`]: the outbound adapters (NHN AlimTalk and SMS, Solapi, a signed webhook,
//!   the log) behind [`Provider`].
//!
//! The notifier is not a read model: its records are effects in the world, so it has no
//! rebuild, and a message older than its freshness deadline is shed rather than sent, which
//! keeps a notifier started on an old event log from messaging anyone about the past.

pub mod consumer;
pub mod dispatcher;
pub mod preferences;
pub mod provider;
pub mod records;
pub mod template;

pub use consumer::Notifier;
pub use dispatcher::{Dispatcher, NotifySettings};
pub use provider::Provider;
