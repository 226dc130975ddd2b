//! Typed events: a serde enum maps to `event_type` + `data` and back.
//!
//! An event enum is written with `#[serde(tag = "type", content = "data")]`, so each variant
//! name becomes the stored `event_type` and its fields the stored `data` object. Old events
//! are brought up to date by [`EventCodec::upcast`] before they are deserialized.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::Error;
use crate::event::{Metadata, NewEvent, RecordedEvent};

/// A serde enum of events, adjacently tagged as `{"type": …, "data": {…}}`.
pub trait EventCodec: Serialize + DeserializeOwned {
    /// The schema version new events are written with.
    const SCHEMA_VERSION: u32 = 1;

    /// Rewrites an event recorded with an older schema version into the current shape.
    /// The default keeps every event as it was stored.
    fn upcast(event_type: String, _schema_version: u32, data: Value) -> (String, Value) {
        (event_type, data)
    }
}

/// Turns a typed event into an event to append, with the given metadata.
pub fn encode<E: EventCodec>(event: &E, metadata: Metadata) -> Result<NewEvent, Error> {
    encode_serde(event, metadata, E::SCHEMA_VERSION)
}

/// Reads a recorded event as a typed event, upcasting it first.
pub fn decode<E: EventCodec>(recorded: &RecordedEvent) -> Result<E, Error> {
    let (event_type, data) = E::upcast(
        recorded.event_type.clone(),
        recorded.metadata.schema_version,
        recorded.data.clone(),
    );
    decode_parts(event_type, data)
}

/// [`encode`] for event enums of crates that cannot implement [`EventCodec`] (the domain
/// depends on nothing of ours): the schema version is passed in.
pub fn encode_serde<E: Serialize>(
    event: &E,
    mut metadata: Metadata,
    schema_version: u32,
) -> Result<NewEvent, Error> {
    let codec_err = |source| Error::Codec {
        event_type: std::any::type_name::<E>().to_owned(),
        source,
    };
    let tagged = serde_json::to_value(event).map_err(codec_err)?;
    let Value::Object(mut tagged) = tagged else {
        return Err(codec_err(serde::ser::Error::custom(
            "an event enum must serialize as {\"type\", \"data\"}",
        )));
    };
    let event_type = match tagged.remove("type") {
        Some(Value::String(t)) => t,
        _ => {
            return Err(codec_err(serde::ser::Error::custom(
                "an event enum needs #[serde(tag = \"type\", content = \"data\")]",
            )))
        }
    };
    // A unit variant has no content: it is stored as an empty object.
    let data = tagged
        .remove("data")
        .unwrap_or_else(|| Value::Object(Map::new()));
    metadata.schema_version = schema_version;
    Ok(NewEvent::new(event_type, data).with_metadata(metadata))
}

/// [`decode`] without upcasting, for event enums of other crates.
pub fn decode_serde<E: DeserializeOwned>(recorded: &RecordedEvent) -> Result<E, Error> {
    decode_parts(recorded.event_type.clone(), recorded.data.clone())
}

fn decode_parts<E: DeserializeOwned>(event_type: String, data: Value) -> Result<E, Error> {
    let mut tagged = Map::with_capacity(2);
    tagged.insert("type".into(), Value::String(event_type.clone()));
    let is_empty = data.as_object().is_some_and(Map::is_empty);
    tagged.insert("data".into(), data);
    match serde_json::from_value(Value::Object(tagged.clone())) {
        Ok(e) => Ok(e),
        // Unit variants are stored with `{}` but serde wants no content at all.
        Err(_) if is_empty => {
            tagged.remove("data");
            serde_json::from_value(Value::Object(tagged))
                .map_err(|source| Error::Codec { event_type, source })
        }
        Err(source) => Err(Error::Codec { event_type, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::Position;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    #[serde(tag = "type", content = "data")]
    enum SeatEvent {
        SeatsExpanded { added: u32, total: u32 },
        SeatsFrozen,
    }

    impl EventCodec for SeatEvent {
        const SCHEMA_VERSION: u32 = 2;

        // Version 1 called the field `count`.
        fn upcast(event_type: String, version: u32, mut data: Value) -> (String, Value) {
            if version < 2 && event_type == "SeatsExpanded" {
                if let Some(count) = data.as_object_mut().and_then(|o| o.remove("count")) {
                    data["added"] = count;
                }
            }
            (event_type, data)
        }
    }

    fn recorded(event: NewEvent) -> RecordedEvent {
        RecordedEvent {
            event_id: event.event_id,
            stream_name: "subscription-1".into(),
            stream_revision: 0,
            position: Position::START,
            event_type: event.event_type,
            data: event.data,
            metadata: event.metadata,
            recorded_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn a_variant_becomes_event_type_and_data_and_back() {
        let e = SeatEvent::SeatsExpanded {
            added: 5,
            total: 15,
        };
        let new = encode(&e, Metadata::new()).unwrap();
        assert_eq!(new.event_type, "SeatsExpanded");
        assert_eq!(new.data, json!({"added": 5, "total": 15}));
        assert_eq!(new.metadata.schema_version, 2);
        assert_eq!(decode::<SeatEvent>(&recorded(new)).unwrap(), e);
    }

    #[test]
    fn a_unit_variant_is_stored_as_an_empty_object() {
        let new = encode(&SeatEvent::SeatsFrozen, Metadata::new()).unwrap();
        assert_eq!(new.data, json!({}));
        assert_eq!(
            decode::<SeatEvent>(&recorded(new)).unwrap(),
            SeatEvent::SeatsFrozen
        );
    }

    #[test]
    fn an_old_version_is_upcast_before_decoding() {
        let mut old = NewEvent::new("SeatsExpanded", json!({"count": 3, "total": 4}));
        old.metadata.schema_version = 1;
        assert_eq!(
            decode::<SeatEvent>(&recorded(old)).unwrap(),
            SeatEvent::SeatsExpanded { added: 3, total: 4 }
        );
    }

    #[test]
    fn an_unknown_type_is_a_codec_error() {
        let e = NewEvent::new("SeatsStolen", json!({}));
        assert!(matches!(
            decode::<SeatEvent>(&recorded(e)),
            Err(Error::Codec { .. })
        ));
    }
}
