//! A TOML value that is either one setting or a list of alternatives.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};

/// One value, or a list of alternatives that expands into one variant each.
///
/// A key whose own type is a list (such as `counts = [1, 10, 100]`) is read as
/// one value; a list of those lists (`counts = [[1, 10], [100]]`) is a list of
/// alternatives. For every other type, a list means alternatives.
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany<T> {
    /// A single value: no variant axis.
    One(T),
    /// Alternatives: one variant per element.
    Many(Vec<T>),
}

impl<T: Clone> OneOrMany<T> {
    /// The alternatives as a slice (one element for [`OneOrMany::One`]).
    pub fn values(&self) -> &[T] {
        match self {
            OneOrMany::One(v) => std::slice::from_ref(v),
            OneOrMany::Many(v) => v,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = toml::Value::deserialize(d)?;
        match T::deserialize(value.clone()) {
            Ok(v) => Ok(OneOrMany::One(v)),
            Err(single) => match value {
                toml::Value::Array(items) if items.is_empty() => Err(D::Error::custom(
                    "an empty list gives no variants: write one value, or a list of alternatives",
                )),
                toml::Value::Array(items) => items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| {
                        T::deserialize(item).map_err(|e| {
                            D::Error::custom(format!(
                                "alternative #{} of the list: {}",
                                i + 1,
                                e.message()
                            ))
                        })
                    })
                    .collect::<Result<Vec<T>, _>>()
                    .map(OneOrMany::Many),
                _ => Err(D::Error::custom(single.message())),
            },
        }
    }
}
