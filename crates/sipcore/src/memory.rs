//! Giving memory back after a load peak: a `HashMap` keeps its largest table after its
//! entries are gone (300,000 finished transactions at 10,000 calls/s leave a table of
//! that size behind), so maps that grow with load shrink once they are mostly empty.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

/// Tables smaller than this many slots are never shrunk (not worth the rehash).
const MIN_SHRINK_CAPACITY: usize = 4_096;

/// Shrinks `map` to twice its length when it fills less than a quarter of its capacity.
/// Called after removals; the hysteresis keeps the cost amortised O(1) per removal.
pub fn shrink_sparse<K: Eq + Hash, V, S: BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > MIN_SHRINK_CAPACITY && map.len() * 4 < map.capacity() {
        map.shrink_to(map.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mostly_empty_map_shrinks_and_a_full_or_small_one_does_not() {
        let mut map: HashMap<u32, u32> = (0..100_000).map(|i| (i, i)).collect();
        let peak = map.capacity();
        shrink_sparse(&mut map);
        assert_eq!(map.capacity(), peak, "full");
        map.retain(|k, _| *k < 1_000);
        shrink_sparse(&mut map);
        assert!(map.capacity() < peak / 20, "{} of {peak}", map.capacity());
        assert_eq!(map.len(), 1_000);
        let mut small: HashMap<u32, u32> = (0..1_000).collect::<Vec<_>>().into_iter().map(|i| (i, i)).collect();
        small.clear();
        let cap = small.capacity();
        shrink_sparse(&mut small);
        assert_eq!(small.capacity(), cap);
    }
}
