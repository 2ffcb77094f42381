//! A bounded set that forgets its oldest entries: "seen recently" memory for the behaviour
//! (wants just answered) and the node (blocks just stored), where an unbounded set would grow
//! with every block ever moved.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// At most `capacity` values; inserting past that forgets the oldest.
#[derive(Debug)]
pub struct RecentSet<T> {
    capacity: usize,
    set: HashSet<T>,
    order: VecDeque<T>,
}

impl<T: Copy + Eq + Hash> RecentSet<T> {
    /// An empty set that remembers at most `capacity` values.
    pub fn new(capacity: usize) -> Self {
        RecentSet {
            capacity,
            set: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Remembers `value` (a value already present keeps its age).
    pub fn insert(&mut self, value: T) {
        if self.set.insert(value) {
            self.order.push_back(value);
            if self.order.len() > self.capacity
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }

    /// Whether `value` is remembered.
    pub fn contains(&self, value: &T) -> bool {
        self.set.contains(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_is_forgotten_first() {
        let mut r = RecentSet::new(2);
        r.insert(1);
        r.insert(2);
        r.insert(1); // already there: keeps its age
        r.insert(3);
        assert!(!r.contains(&1));
        assert!(r.contains(&2) && r.contains(&3));
    }
}
