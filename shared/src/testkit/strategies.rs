//! Proptest strategies for request bodies, the same for every webhook: any bytes, any JSON, a
//! valid payload changed field by field (through [`bodies`]), and a valid payload with unknown
//! fields and white space added. What is particular to one payload is its [`Payload`]: a valid
//! body, its field names and plausible values.

use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::Value;

use super::bodies::{self, Mutation, Replacement, AWKWARD_TEXT};
use crate::domain::payload::MAX_BODY_BYTES;

/// What the strategies need to know of one payload.
#[derive(Debug, Clone, Copy)]
pub struct Payload {
    /// A valid body, a JSON object.
    pub valid: &'static str,
    /// The payload's fields, and one it does not know: the keys mutations change, and the keys
    /// generated objects often have.
    pub fields: &'static [&'static str],
    /// Values close to the valid ones, so that mutated bodies are often valid.
    pub plausible: &'static [&'static str],
}

/// Any bytes, mostly short, now and then around the cap.
pub fn arbitrary_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        7 => vec(any::<u8>(), 0..512),
        1 => vec(any::<u8>(), bodies::sizes_around_the_cap()),
    ]
}

impl Payload {
    /// Any text, the awkward kinds and the plausible values more often than chance would give
    /// them.
    pub fn text(self) -> impl Strategy<Value = String> {
        prop_oneof![
            ".*",
            select(&AWKWARD_TEXT[..]).prop_map(String::from),
            select(self.plausible).prop_map(String::from),
        ]
    }

    /// Any JSON value, nested a few levels, with object keys that are often the payload's.
    pub fn json(self) -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            self.text().prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 6, move |inner| {
            let key = prop_oneof![self.field(), self.text()];
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::from),
                btree_map(key, inner, 0..6).prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// One of the payload's field names.
    fn field(self) -> impl Strategy<Value = String> {
        select(self.fields).prop_map(String::from)
    }

    /// What a field's value may become: another type, empty, awkward, huge, or other text.
    pub fn replacement(self) -> impl Strategy<Value = Replacement> {
        prop_oneof![
            Just(Replacement::Null),
            any::<bool>().prop_map(Replacement::Bool),
            any::<i64>().prop_map(Replacement::Integer),
            any::<f64>().prop_map(Replacement::Float),
            Just(Replacement::Array),
            Just(Replacement::Object),
            Just(Replacement::Empty),
            Just(Replacement::Blank),
            any::<usize>().prop_map(Replacement::Awkward),
            any::<usize>().prop_map(Replacement::EdgeTime),
            // Small, and around the cap once the rest of the body is added.
            prop_oneof![0..=300usize, MAX_BODY_BYTES - 300..=MAX_BODY_BYTES + 300]
                .prop_map(Replacement::Huge),
            self.text().prop_map(Replacement::Text),
        ]
    }

    /// The valid body with one to three fields removed or replaced, compact or pretty,
    /// sometimes padded with white space to just under, at or just over the cap.
    pub fn mutated(self) -> impl Strategy<Value = Vec<u8>> {
        let mutation = prop_oneof![
            self.field().prop_map(Mutation::Remove),
            (self.field(), self.replacement()).prop_map(|(f, r)| Mutation::Replace(f, r)),
        ];
        let valid = self.valid_json();
        (
            vec(mutation, 1..4),
            any::<bool>(),
            option::weighted(0.2, bodies::sizes_around_the_cap()),
        )
            .prop_map(move |(mutations, pretty, pad)| {
                let value = bodies::mutate(&valid, &mutations);
                let body = if pretty {
                    serde_json::to_vec_pretty(&value)
                } else {
                    serde_json::to_vec(&value)
                };
                bodies::padded(body.unwrap(), pad.unwrap_or(0))
            })
    }

    /// The valid body with up to three unknown fields (`x-…`, any JSON) added, sometimes padded
    /// with white space, up to the cap at most: a body that must be answered as the valid one.
    pub fn with_unknown_fields(self) -> impl Strategy<Value = Vec<u8>> {
        let valid = self.valid_json();
        (
            btree_map("x-[a-z]{1,8}", self.json(), 0..4),
            option::of(prop_oneof![
                0..=4096usize,
                MAX_BODY_BYTES - 64..=MAX_BODY_BYTES
            ]),
        )
            .prop_map(move |(extra, pad)| {
                let mut value = valid.clone();
                if let Some(fields) = value.as_object_mut() {
                    fields.extend(extra);
                }
                bodies::padded(value.to_string().into_bytes(), pad.unwrap_or(0))
            })
            .prop_filter("over the cap", |body| body.len() <= MAX_BODY_BYTES)
    }

    /// [`Payload::valid`], parsed.
    pub fn valid_json(self) -> Value {
        serde_json::from_str(self.valid)
            .unwrap_or_else(|e| panic!("not a JSON body ({e}): {}", self.valid))
    }
}
