//! A hash map whose resizes are spread over many operations, for tables that grow with
//! load. `std`'s `HashMap` rehashes every entry at once when it grows or shrinks: at 1,000
//! calls/s the transaction table passes 114,000 entries and the resize stalls the engine
//! for 5-15 ms, which showed up as the INVITE->200 tail (max 25 ms against Kamailio's 9).
//! Here a full table starts a new one of twice the size and every later insert or removal
//! moves a few hundred entries across (as Redis rehashes its dictionaries), so no single input pays
//! for the whole table. A table three-quarters empty moves into a smaller one the same
//! way. (The `griddle` crate does this for an older `hashbrown`; this is the small part
//! we need, over `std`.)

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Entries moved from the old table per insert while a resize is under way. Each step
/// also scans past the slots already emptied (std gives no cursor), so fewer, larger
/// steps cost less in all; but each moved entry may touch a fresh page of the new table
/// (a page fault, several microseconds in a VM), so not too large either.
const MOVE_PER_OP: usize = 64;
/// Tables are never shrunk below this many entries of capacity.
const MIN_CAPACITY: usize = 1_024;

/// A `HashMap` that resizes incrementally. Iteration order is unspecified, as `HashMap`'s.
#[derive(Debug)]
pub struct SpreadMap<K, V> {
    current: HashMap<K, V>,
    /// The table being emptied into `current`, if a resize is under way.
    draining: HashMap<K, V>,
}

impl<K, V> Default for SpreadMap<K, V> {
    fn default() -> Self {
        Self { current: HashMap::new(), draining: HashMap::new() }
    }
}

impl<K: Eq + Hash, V> SpreadMap<K, V> {
    /// Entries in the map.
    pub fn len(&self) -> usize {
        self.current.len() + self.draining.len()
    }

    /// True when the map holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots of the tables together (for tests and memory figures).
    pub fn capacity(&self) -> usize {
        self.current.capacity() + self.draining.capacity()
    }

    /// The value for `key`.
    pub fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.current.get(key).or_else(|| self.draining.get(key))
    }

    /// The value for `key`, to change.
    pub fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        match self.current.get_mut(key) {
            Some(v) => Some(v),
            None => self.draining.get_mut(key),
        }
    }

    /// True when `key` is in the map.
    pub fn contains_key<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.current.contains_key(key) || self.draining.contains_key(key)
    }

    /// Inserts `value` under `key`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.step();
        // Most inserts happen with no resize under way: skip hashing the key twice then.
        let old = if self.draining.is_empty() { None } else { self.draining.remove(&key) };
        if self.draining.is_empty() && self.current.len() >= self.current.capacity() && !self.current.contains_key(&key)
        {
            let grown = (self.current.capacity() * 2).max(MIN_CAPACITY);
            self.start_resize(grown);
        }
        self.current.insert(key, value).or(old)
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        self.step();
        let removed = match self.current.remove(key) {
            None if !self.draining.is_empty() => self.draining.remove(key),
            found => found,
        };
        if self.draining.is_empty()
            && self.current.capacity() > MIN_CAPACITY * 4
            && self.current.len() * 4 < self.current.capacity()
        {
            let shrunk = (self.current.len() * 2).max(MIN_CAPACITY);
            self.start_resize(shrunk);
        }
        removed
    }

    fn start_resize(&mut self, capacity: usize) {
        let fresh = HashMap::with_capacity(capacity);
        self.draining = std::mem::replace(&mut self.current, fresh);
    }

    /// Moves a few entries from the draining table, if any.
    fn step(&mut self) {
        if self.draining.is_empty() {
            return;
        }
        // `extract_if` keeps what it has not reached when dropped, so stopping after a few
        // costs only the scan to them.
        for (k, v) in self.draining.extract_if(|_, _| true).take(MOVE_PER_OP) {
            self.current.insert(k, v);
        }
        if self.draining.is_empty() {
            self.draining = HashMap::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_map_through_growth_and_shrinking() {
        let mut map = SpreadMap::default();
        let mut model = HashMap::new();
        for i in 0..50_000u32 {
            assert_eq!(map.insert(i, i), model.insert(i, i));
            if i % 3 == 0 {
                assert_eq!(map.insert(i / 2, i), model.insert(i / 2, i), "replace");
            }
            assert_eq!(map.len(), model.len());
        }
        for i in 0..50_000u32 {
            assert_eq!(map.get(&i), model.get(&i));
        }
        for i in 0..49_000u32 {
            assert_eq!(map.remove(&i), model.remove(&i));
            assert_eq!(map.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(map.get(k), Some(v));
            assert!(map.contains_key(k));
        }
        for i in 0..100 {
            map.insert(100_000 + i, i);
            map.remove(&(100_000 + i));
        }
        assert!(map.capacity() < 8 * 1_024, "shrunk to {}", map.capacity());
    }

    #[test]
    fn no_single_insert_moves_more_than_a_few_entries() {
        let mut map = SpreadMap::default();
        for i in 0..200_000u32 {
            let before = (map.current.capacity(), map.draining.len());
            map.insert(i, ());
            let moved = before.1.saturating_sub(map.draining.len());
            assert!(moved <= MOVE_PER_OP, "{moved} moved at {i}");
            // The table written into never grows in place (a full rehash): its capacity
            // changes only when a resize starts, into a table of its own.
            if before.0 > 0 && map.current.capacity() != before.0 {
                assert!(before.1 == 0 && !map.draining.is_empty(), "grew in place at {i}");
            }
        }
        assert_eq!(map.len(), 200_000);
    }
}
