//! Per-store state of the layers above the host, one value per type.
//!
//! A store's instance is driven by several layers at once: a reactor's
//! `_initialize` runs once ([`crate::guest`]'s init marker), a guest kind
//! keeps the exports it looked up once, a snapshot's warm-up runs the same
//! instance through another workload, a command remembers that `_start`
//! ran. Each keeps its state here under a type private to its module, so
//! no layer can replace or read another's: a value is found only by the
//! type that put it there.

use std::any::{Any, TypeId};

/// Typed per-store state: at most one value of each type.
///
/// A handful of entries per store, looked up by [`TypeId`] in a short
/// vector: cheaper than hashing for the two or three layers a store has,
/// and no allocation after the first call of each layer.
#[derive(Default)]
pub struct StoreState {
    entries: Vec<(TypeId, Box<dyn Any + Send>)>,
}

impl StoreState {
    /// No state yet.
    pub fn new() -> StoreState {
        StoreState::default()
    }

    fn position<T: Any>(&self) -> Option<usize> {
        let id = TypeId::of::<T>();
        self.entries.iter().position(|(t, _)| *t == id)
    }

    /// Whether a value of type `T` is kept.
    pub fn contains<T: Any + Send>(&self) -> bool {
        self.position::<T>().is_some()
    }

    /// The value of type `T`, if one is kept.
    pub fn get<T: Any + Send>(&self) -> Option<&T> {
        self.position::<T>()
            .and_then(|i| self.entries[i].1.downcast_ref::<T>())
    }

    /// The value of type `T`, mutably, if one is kept.
    pub fn get_mut<T: Any + Send>(&mut self) -> Option<&mut T> {
        let i = self.position::<T>()?;
        self.entries[i].1.downcast_mut::<T>()
    }

    /// Keeps `value`, replacing only an earlier value of the same type
    /// (returned); values of other types are untouched.
    pub fn insert<T: Any + Send>(&mut self, value: T) -> Option<T> {
        match self.position::<T>() {
            Some(i) => {
                let old = std::mem::replace(&mut self.entries[i].1, Box::new(value));
                old.downcast::<T>().ok().map(|b| *b)
            }
            None => {
                self.entries.push((TypeId::of::<T>(), Box::new(value)));
                None
            }
        }
    }

    /// Takes the value of type `T` out (to borrow it beside the store);
    /// [`StoreState::insert`] puts it back.
    pub fn take<T: Any + Send>(&mut self) -> Option<T> {
        let i = self.position::<T>()?;
        let (_, boxed) = self.entries.swap_remove(i);
        boxed.downcast::<T>().ok().map(|b| *b)
    }

    /// The value of type `T`, made with `init` when none is kept.
    pub fn get_or_insert_with<T: Any + Send>(&mut self, init: impl FnOnce() -> T) -> &mut T {
        let i = match self.position::<T>() {
            Some(i) => i,
            None => {
                self.entries.push((TypeId::of::<T>(), Box::new(init())));
                self.entries.len() - 1
            }
        };
        self.entries[i]
            .1
            .downcast_mut::<T>()
            .expect("entries are keyed by their own type")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Marker;
    #[derive(Debug, PartialEq)]
    struct Exports(u32);

    #[test]
    fn a_layer_cannot_replace_another_layers_value() {
        let mut s = StoreState::new();
        s.insert(Marker);
        assert_eq!(s.insert(Exports(1)), None);
        assert!(s.contains::<Marker>(), "the exports replaced the marker");
        assert_eq!(s.insert(Exports(2)), Some(Exports(1)));
        assert!(s.contains::<Marker>());
        assert_eq!(s.get::<Exports>(), Some(&Exports(2)));
    }

    #[test]
    fn take_and_put_back_leave_the_others() {
        let mut s = StoreState::new();
        s.insert(Exports(7));
        s.insert(Marker);
        let e = s.take::<Exports>().unwrap();
        assert!(s.get::<Exports>().is_none());
        assert!(s.contains::<Marker>());
        s.insert(e);
        assert_eq!(s.get::<Exports>(), Some(&Exports(7)));
        s.get_mut::<Exports>().unwrap().0 = 8;
        assert_eq!(s.get_or_insert_with(|| Exports(0)), &mut Exports(8));
        assert!(s.take::<Marker>().is_some());
        assert!(s.take::<Marker>().is_none());
    }
}
