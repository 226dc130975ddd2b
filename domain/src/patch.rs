//! A field an update may leave alone, set, or clear: `Option<Option<T>>` in events.
//! Left alone: the field is absent; cleared: `null`; set: the value. (Plain serde writes
//! both "left alone" and "cleared" as `null`, so a cleared phone or a move to the
//! organization's root would be lost in the log.)

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Writes `Some(None)` as `null` and `Some(Some(v))` as `v`; `None` is skipped by the field's
/// `skip_serializing_if`.
pub fn serialize<T: Serialize, S: Serializer>(
    value: &Option<Option<T>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match value {
        Some(inner) => inner.serialize(serializer),
        None => serializer.serialize_none(),
    }
}

/// A present field (`null` or a value) is `Some`; an absent one is `None` by the field's
/// `default`.
pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Change {
        #[serde(default, skip_serializing_if = "Option::is_none", with = "super")]
        phone: Option<Option<String>>,
    }

    #[test]
    fn left_alone_cleared_and_set_stay_apart() {
        for (change, json) in [
            (Change { phone: None }, "{}"),
            (Change { phone: Some(None) }, r#"{"phone":null}"#),
            (
                Change {
                    phone: Some(Some("138".into())),
                },
                r#"{"phone":"138"}"#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&change).unwrap(), json);
            assert_eq!(serde_json::from_str::<Change>(json).unwrap(), change);
        }
    }
}
