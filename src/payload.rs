//! Reading a message `payload` from a request within its size bound.
//!
//! A payload is free JSON kept as a `serde_json::Value`, and a `Value`
//! tree costs far more than its text (a 16 MiB array of small numbers took
//! 288 MiB). So the tree is built against a budget of
//! [`MAX_PAYLOAD_BYTES`]: every part is charged at most the bytes it takes
//! once serialized, and building stops with the same error as the size check
//! once the budget is spent. A payload within the bound is never refused
//! here (the exact check, `model::check_payload`, still runs after); one
//! above it costs at most about the bound's worth of tree.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest accepted message payload, serialized, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// `deserialize_with` for an optional payload field.
pub(crate) fn bounded<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    let left = Cell::new(MAX_PAYLOAD_BYTES);
    // `null` reads as no payload, as a plain `Option<Value>` field does.
    let v = Budgeted { left: &left }.deserialize(d)?;
    Ok((!v.is_null()).then_some(v))
}

/// Builds a `Value`, charging its serialized size (a lower bound of it) to
/// `left`.
#[derive(Clone, Copy)]
struct Budgeted<'a> {
    left: &'a Cell<usize>,
}

impl Budgeted<'_> {
    fn charge<E: de::Error>(self, n: usize) -> Result<(), E> {
        match self.left.get().checked_sub(n) {
            Some(rest) => {
                self.left.set(rest);
                Ok(())
            }
            None => Err(E::custom(format!(
                "payload is larger than {MAX_PAYLOAD_BYTES} bytes"
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Budgeted<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Budgeted<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.charge(4)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.charge(1)?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge(v.len() + 2)?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.charge(v.len() + 2)?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.charge(4)?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.charge(2)?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(self)? {
            if !out.is_empty() {
                self.charge(1)?;
            }
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.charge(2)?;
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            // A repeated key is charged again: the text as written counts.
            self.charge(k.len() + 3 + usize::from(!out.is_empty()))?;
            let v = map.next_value_seed(self)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct P {
        #[serde(default, deserialize_with = "bounded")]
        payload: Option<Value>,
    }

    fn parse(text: &str) -> Result<Option<Value>, String> {
        serde_json::from_str::<P>(text)
            .map(|p| p.payload)
            .map_err(|e| e.to_string())
    }

    /// The charge never exceeds the serialized size: a payload of exactly the
    /// bound is read whole, one byte more is refused.
    #[test]
    fn bound_is_exact_for_a_string() -> Result<(), String> {
        // {"s":"…"}: 2 braces + 4 for the key + 2 quotes + the text.
        let fill = "x".repeat(MAX_PAYLOAD_BYTES - 8);
        let at = format!(r#"{{"payload":{{"s":"{fill}"}}}}"#);
        let v = parse(&at)?.ok_or("no payload at the bound")?;
        let text = serde_json::to_string(&v).map_err(|e| e.to_string())?;
        assert_eq!(text.len(), MAX_PAYLOAD_BYTES);
        let over = format!(r#"{{"payload":{{"s":"{fill}x"}}}}"#);
        let e = parse(&over).expect_err("over the bound");
        assert!(e.contains("payload is larger than 65536 bytes"), "{e}");
        Ok(())
    }

    /// Every kind of value is read as `serde_json` reads it.
    #[test]
    fn values_read_as_serde_json_reads_them() -> Result<(), String> {
        let text = r#"{"a":[1,-2,3.5,true,false,null,"s",{"b":{}}],"c":"é\n"}"#;
        let want: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let got = parse(&format!(r#"{{"payload":{text}}}"#))?;
        assert_eq!(got, Some(want));
        Ok(())
    }

    /// Many small numbers (the costly shape) are refused long before the
    /// text ends.
    #[test]
    fn many_small_numbers_are_refused() {
        let text = format!(r#"{{"payload":{{"j":[{}0]}}}}"#, "0,".repeat(100_000));
        let e = parse(&text).expect_err("too big");
        assert!(e.contains("payload is larger than"), "{e}");
    }
}
