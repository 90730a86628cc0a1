//! Parsing a request line without building a tree (the request handler in
//! [`crate::rpc`] uses these).

use std::borrow::Cow;

use serde::de::{self, IgnoredAny, Unexpected, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;

// A request line used to be parsed into a `serde_json::Value` and its params
// cloned: ~33x the line in memory. Now the line is read three times, never
// copied: `Check` validates it as a `Value` parse would (same errors, same
// positions); `Envelope` takes `id`, `method` and `params` as borrowed
// `RawValue`s (the last of duplicate keys wins, as in a `Value` map); and
// `Node` deserializes each method's params straight from the raw text with
// the exact behaviour of `Value`'s deserializer: object members in key order
// (a `Value` map is sorted), the last of duplicate keys kept, the same
// errors. Members a method does not read are skipped without being parsed.

/// Validates any JSON value, keeping nothing.
pub(crate) struct Check;

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Check, D::Error> {
        d.deserialize_any(CheckVisitor)
    }
}

struct CheckVisitor;

impl<'de> Visitor<'de> for CheckVisitor {
    type Value = Check;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_i64<E>(self, _: i64) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_u64<E>(self, _: u64) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_f64<E>(self, _: f64) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_str<E>(self, _: &str) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_unit<E>(self) -> std::result::Result<Check, E> {
        Ok(Check)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> std::result::Result<Check, A::Error> {
        while a.next_element::<Check>()?.is_some() {}
        Ok(Check)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut a: A) -> std::result::Result<Check, A::Error> {
        while a.next_key::<Check>()?.is_some() {
            a.next_value::<Check>()?;
        }
        Ok(Check)
    }
}

/// The members of a request object that the server reads.
#[derive(Default)]
pub(crate) struct Envelope<'a> {
    pub(crate) id: Option<&'a RawValue>,
    pub(crate) method: Option<&'a RawValue>,
    pub(crate) params: Option<&'a RawValue>,
}

enum EnvelopeKey {
    Id,
    Method,
    Params,
    Other,
}

impl<'de> Deserialize<'de> for EnvelopeKey {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EnvelopeKey;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, k: &str) -> std::result::Result<EnvelopeKey, E> {
                Ok(match k {
                    "id" => EnvelopeKey::Id,
                    "method" => EnvelopeKey::Method,
                    "params" => EnvelopeKey::Params,
                    _ => EnvelopeKey::Other,
                })
            }
        }
        d.deserialize_identifier(V)
    }
}

impl<'de> Deserialize<'de> for Envelope<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Envelope<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a request object")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> std::result::Result<Envelope<'de>, A::Error> {
                let mut env = Envelope::default();
                while let Some(k) = a.next_key::<EnvelopeKey>()? {
                    match k {
                        EnvelopeKey::Id => env.id = Some(a.next_value()?),
                        EnvelopeKey::Method => env.method = Some(a.next_value()?),
                        EnvelopeKey::Params => env.params = Some(a.next_value()?),
                        EnvelopeKey::Other => {
                            a.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(env)
            }
        }
        d.deserialize_map(V)
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The end of the string whose opening quote is at `i`.
fn string_end(b: &[u8], mut i: usize) -> usize {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// The end of the (validated) JSON value starting at `i`.
fn value_end(b: &[u8], i: usize) -> usize {
    match b.get(i) {
        Some(b'"') => string_end(b, i),
        Some(b'{' | b'[') => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = string_end(b, j);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            return j + 1;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            b.len()
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b']' | b'}' | b' ' | b'\t' | b'\n' | b'\r')
            {
                j += 1;
            }
            j
        }
    }
}

/// The elements of a validated array or the members of a validated object
/// (`(raw key, value)`), in text order.
struct Items<'a> {
    text: &'a str,
    pos: usize,
    object: bool,
}

impl<'a> Items<'a> {
    fn new(text: &'a str, object: bool) -> Items<'a> {
        Items {
            text,
            pos: 1,
            object,
        }
    }
}

impl<'a> Iterator for Items<'a> {
    type Item = (&'a str, &'a str);
    fn next(&mut self) -> Option<Self::Item> {
        let b = self.text.as_bytes();
        let mut i = skip_ws(b, self.pos);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        let mut key = "";
        if self.object {
            if b.get(i) != Some(&b'"') {
                self.pos = b.len();
                return None;
            }
            let end = string_end(b, i);
            key = self.text.get(i..end)?;
            i = skip_ws(b, end);
            i = skip_ws(b, i + 1); // the colon
        } else if matches!(b.get(i), None | Some(b']')) {
            self.pos = b.len();
            return None;
        }
        let end = value_end(b, i);
        self.pos = end;
        Some((key, self.text.get(i..end)?))
    }
}

type JsonError = serde_json::Error;
type JsonResult<T> = std::result::Result<T, JsonError>;

/// A raw object key, decoded.
fn key_text(raw: &str) -> JsonResult<Cow<'_, str>> {
    match raw.get(1..raw.len().saturating_sub(1)) {
        Some(k) if !raw.contains('\\') => Ok(Cow::Borrowed(k)),
        _ => serde_json::from_str::<String>(raw).map(Cow::Owned),
    }
}

/// An object's members as a `Value` map has them: sorted by key, the last
/// of duplicate keys kept.
fn members(text: &str) -> JsonResult<Vec<(Cow<'_, str>, &str)>> {
    let mut v = Vec::new();
    for (k, val) in Items::new(text, true) {
        v.push((key_text(k)?, val));
    }
    v.reverse();
    v.sort_by(|a, b| a.0.cmp(&b.0)); // stable: the last in the text comes first
    v.dedup_by(|later, first| later.0 == first.0);
    Ok(v)
}

/// One validated JSON value as raw text (no surrounding whitespace),
/// deserialized exactly as `serde_json::Value`'s deserializer would, without
/// building the value. Scalars go through a `Value` (they are small).
#[derive(Clone, Copy)]
pub(crate) struct Node<'a>(pub(crate) &'a str);

enum Kind {
    Object,
    Array,
    Scalar,
}

impl<'a> Node<'a> {
    fn kind(&self) -> Kind {
        match self.0.as_bytes().first() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            _ => Kind::Scalar,
        }
    }
    fn scalar(self) -> JsonResult<Value> {
        serde_json::from_str(self.0)
    }
    fn visit_object<'de, V: Visitor<'de>>(self, visitor: V) -> JsonResult<V::Value> {
        let entries = members(self.0)?;
        let len = entries.len();
        let mut m = MapNode {
            iter: entries.into_iter(),
            value: None,
        };
        let out = visitor.visit_map(&mut m)?;
        if m.iter.len() == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(len, &"fewer elements in map"))
        }
    }
    fn visit_array<'de, V: Visitor<'de>>(self, visitor: V) -> JsonResult<V::Value> {
        let len = Items::new(self.0, false).count();
        let mut s = SeqNode {
            iter: Items::new(self.0, false),
            left: len,
        };
        let out = visitor.visit_seq(&mut s)?;
        if s.left == 0 {
            Ok(out)
        } else {
            Err(de::Error::invalid_length(len, &"fewer elements in array"))
        }
    }
}

/// What `Value::unexpected` says of a scalar.
fn unexpected(v: &Value) -> Unexpected<'_> {
    match v {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            _ => Unexpected::Float(n.as_f64().unwrap_or(0.0)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct MapNode<'a> {
    iter: std::vec::IntoIter<(Cow<'a, str>, &'a str)>,
    value: Option<&'a str>,
}

impl<'de> de::MapAccess<'de> for MapNode<'_> {
    type Error = JsonError;
    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> JsonResult<Option<K::Value>> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                let k: String = k.into_owned();
                seed.deserialize(de::value::StringDeserializer::<JsonError>::new(k))
                    .map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> JsonResult<V::Value> {
        match self.value.take() {
            Some(v) => seed.deserialize(Node(v)),
            None => Err(de::Error::custom("value is missing")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct SeqNode<'a> {
    iter: Items<'a>,
    left: usize,
}

impl<'de> de::SeqAccess<'de> for SeqNode<'_> {
    type Error = JsonError;
    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> JsonResult<Option<T::Value>> {
        match self.iter.next() {
            Some((_, v)) => {
                self.left = self.left.saturating_sub(1);
                seed.deserialize(Node(v)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum given as a map with one key (`Value`'s `EnumDeserializer`).
struct EnumNode<'a> {
    variant: String,
    value: Node<'a>,
}

impl<'de, 'a> de::EnumAccess<'de> for EnumNode<'a> {
    type Error = JsonError;
    type Variant = Node<'a>;
    fn variant_seed<V: de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> JsonResult<(V::Value, Node<'a>)> {
        let v = seed.deserialize(de::value::StringDeserializer::<JsonError>::new(
            self.variant,
        ))?;
        Ok((v, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Node<'_> {
    type Error = JsonError;
    fn unit_variant(self) -> JsonResult<()> {
        <()>::deserialize(self)
    }
    fn newtype_variant_seed<T: de::DeserializeSeed<'de>>(self, seed: T) -> JsonResult<T::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array if Items::new(self.0, false).next().is_none() => visitor.visit_unit(),
            Kind::Array => self.visit_array(visitor),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &"tuple variant")),
            Kind::Scalar => Err(de::Error::invalid_type(
                unexpected(&self.scalar()?),
                &"tuple variant",
            )),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(visitor),
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &"struct variant")),
            Kind::Scalar => Err(de::Error::invalid_type(
                unexpected(&self.scalar()?),
                &"struct variant",
            )),
        }
    }
}

/// Methods where an object or an array is always the wrong type.
macro_rules! scalar_only {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
            match self.kind() {
                Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
                Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &v)),
                Kind::Scalar => de::Deserializer::$method(self.scalar()?, v),
            }
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Node<'_> {
    type Error = JsonError;

    scalar_only!(deserialize_bool deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
        deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64
        deserialize_u128 deserialize_f32 deserialize_f64 deserialize_char deserialize_str
        deserialize_string deserialize_unit deserialize_identifier);

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(v),
            Kind::Array => self.visit_array(v),
            Kind::Scalar => de::Deserializer::deserialize_any(self.scalar()?, v),
        }
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object | Kind::Array => v.visit_some(self),
            Kind::Scalar => de::Deserializer::deserialize_option(self.scalar()?, v),
        }
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &v)),
            Kind::Scalar => de::Deserializer::deserialize_unit_struct(self.scalar()?, name, v),
        }
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object | Kind::Array => v.visit_newtype_struct(self),
            Kind::Scalar => de::Deserializer::deserialize_newtype_struct(self.scalar()?, name, v),
        }
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array => self.visit_array(v),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Scalar => de::Deserializer::deserialize_seq(self.scalar()?, v),
        }
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array => self.visit_array(v),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Scalar => de::Deserializer::deserialize_bytes(self.scalar()?, v),
        }
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Array => self.visit_array(v),
            Kind::Object => Err(de::Error::invalid_type(Unexpected::Map, &v)),
            Kind::Scalar => de::Deserializer::deserialize_byte_buf(self.scalar()?, v),
        }
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, v: V) -> JsonResult<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        v: V,
    ) -> JsonResult<V::Value> {
        self.deserialize_seq(v)
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(v),
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &v)),
            Kind::Scalar => de::Deserializer::deserialize_map(self.scalar()?, v),
        }
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => self.visit_object(v),
            Kind::Array => self.visit_array(v),
            Kind::Scalar => de::Deserializer::deserialize_struct(self.scalar()?, name, fields, v),
        }
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> JsonResult<V::Value> {
        match self.kind() {
            Kind::Object => {
                let mut entries = members(self.0)?;
                if entries.len() != 1 {
                    return Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    ));
                }
                match entries.pop() {
                    Some((k, val)) => v.visit_enum(EnumNode {
                        variant: k.into_owned(),
                        value: Node(val),
                    }),
                    None => Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            Kind::Array => Err(de::Error::invalid_type(Unexpected::Seq, &"string or map")),
            Kind::Scalar => de::Deserializer::deserialize_enum(self.scalar()?, name, variants, v),
        }
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> JsonResult<V::Value> {
        v.visit_unit()
    }
}
