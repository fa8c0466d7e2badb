//! Declarative helpers that keep each name written once.

/// Declares an aggregate's event enum from `Variant(Payload) = "version"` lines.
///
/// The variant name is the stored `event_type`, so it is never typed twice; the version is
/// stored beside it so old payloads can be upcast on read; and `catalog()` lists each event
/// type with its JSON Schema for the `schemas/` folder.
macro_rules! domain_events {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident($payload:ty) = $version:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $(
                $(#[$vmeta])*
                #[doc = concat!("[`", stringify!($payload), "`], stored as version ", $version, ".")]
                $variant($payload),
            )+
        }

        impl cqrs_es::DomainEvent for $name {
            fn event_type(&self) -> String {
                match self {
                    $( Self::$variant(_) => stringify!($variant).to_string(), )+
                }
            }

            fn event_version(&self) -> String {
                match self {
                    $( Self::$variant(_) => $version.to_string(), )+
                }
            }
        }

        impl $name {
            /// Every event type of this aggregate at its current version, with its JSON Schema.
            pub fn catalog() -> Vec<$crate::events::EventSchema> {
                vec![ $( $crate::events::EventSchema::of::<$payload>(stringify!($variant), $version), )+ ]
            }
        }

        $(
            impl From<$payload> for $name {
                fn from(payload: $payload) -> Self {
                    Self::$variant(payload)
                }
            }
        )+
    };
}

/// Declares a UUID-backed identifier newtype, so an order id can never be passed as a store id.
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize, schemars::JsonSchema,
        )]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A fresh random identifier.
            pub fn new() -> Self {
                Self(uuid::Uuid::new_v4())
            }

            /// The UUID inside, for storage keys and URLs.
            pub fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self(uuid::Uuid::nil())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }
    };
}
