//! `text_enum!`: the states of the service's state machines (a backup's, a restore's, a job's, ...)
//! as Rust enums stored in `text` columns. The table's `CHECK (status IN (...))` constraint and the
//! enum list the same words; each enum is bound as a query parameter (`status = $1`,
//! `status = ANY($2)`) and decoded from a row, so no state is spelled as a string in SQL or Rust.
//!
//! With the `openapi` feature, each enum is also a schema of the OpenAPI document: a string that
//! is one of its words.
//!
//! The sqlx derive (`#[sqlx(type_name = "text")]`) would work too, but it looks the type's OID up
//! by name on every new connection (one more round trip); these impls reuse `text`'s own.

/// A stored value that is not one of the enum's words (a newer binary's state, or a hand edit).
#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not a {kind}: expected one of {expected}")]
pub struct UnknownState {
    pub kind: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($kind:literal) {
            $( $(#[$variant_meta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$variant_meta])* $variant, )+
        }

        impl $name {
            /// Every state, in the order of the declaration.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The word stored in the database and shown in the API.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            // `pad`, not `write_str`: a `{:<10}` column lines up as it did for the string.
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::text_enum::UnknownState;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                match value {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err($crate::text_enum::UnknownState {
                        kind: $kind,
                        value: value.to_string(),
                        expected: [$($text),+].join(", "),
                    }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }

        /// In the OpenAPI document: a string, one of the enum's words.
        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .description(Some(concat!("A ", $kind, ".")))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl sqlx::Type<sqlx::Postgres> for $name {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::postgres::PgHasArrayType for $name {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Postgres> for $name {
            fn decode(
                value: sqlx::postgres::PgValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                Ok(text.parse()?)
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    text_enum! {
        /// A light's state, for the test.
        pub enum Light ("light state") {
            On => "on",
            Off => "off",
        }
    }

    #[test]
    fn a_state_is_its_word_everywhere() {
        assert_eq!(Light::ALL, &[Light::On, Light::Off]);
        assert_eq!(Light::Off.to_string(), "off");
        assert_eq!(format!("[{:<5}]", Light::On), "[on   ]");
        assert_eq!("on".parse::<Light>().unwrap(), Light::On);
        assert_eq!(serde_json::to_string(&Light::On).unwrap(), "\"on\"");
        assert_eq!(
            serde_json::from_str::<Light>("\"off\"").unwrap(),
            Light::Off
        );
        #[cfg(feature = "openapi")]
        {
            let schema = serde_json::to_value(<Light as utoipa::PartialSchema>::schema()).unwrap();
            assert_eq!(schema["enum"], serde_json::json!(["on", "off"]));
            assert_eq!(<Light as utoipa::ToSchema>::name(), "Light");
        }
        let error = "dim".parse::<Light>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "`dim` is not a light state: expected one of on, off"
        );
    }
}
