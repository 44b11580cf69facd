//! Entity storage: a vector of slots indexed directly by the entity's id, which carries the slot
//! index and the slot's generation. A lookup is one bounds check and one generation compare,
//! where an ordered map of 10,000 entries costs a dozen cache-missing key comparisons; a walk
//! over every entity (a broadcast) reads memory in order.
//!
//! An id is never reused, so a handle to an entity that ended can never reach a newer one:
//! removing an entity bumps its slot's generation, a slot whose generation is exhausted is
//! retired instead of reused (one slot per 4,294,967,295 entities that pass through it), and a
//! slot appended after the slab shrank starts above every generation the slab has handed out.
//!
//! The index sits in the high half of the raw id and the generation in the low half, so that an
//! id stays exact as a JavaScript number (below 2^53) for as long as fewer than 2^21 entities
//! of its kind are alive at once, however long the engine runs.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::marker::PhantomData;

/// An id that names a slot of a [`Slab`].
pub(crate) trait SlabKey: Copy {
    fn from_raw(raw: u64) -> Self;
    fn raw(self) -> u64;
}

fn split(raw: u64) -> (usize, u32) {
    ((raw >> 32) as usize, raw as u32)
}

fn join(index: usize, generation: u32) -> u64 {
    ((index as u64) << 32) | u64::from(generation)
}

enum Slot<V> {
    /// Boxed, so that a vacant slot costs 16 bytes rather than an entity's size: a slab keeps
    /// the slots of its largest population (ids cannot move), not their entities.
    Occupied { generation: u32, value: Box<V> },
    /// Free; the next entity here gets `generation`.
    Vacant { generation: u32 },
    /// Every generation of this slot was used: it is never handed out again.
    Retired,
}

/// Entities of one kind, by id.
pub(crate) struct Slab<K, V> {
    slots: Vec<Slot<V>>,
    /// Vacant slots, the most recently freed last (it is the one still in cache).
    free: Vec<u32>,
    len: usize,
    /// The generation a newly appended slot starts at: above every one handed out so far.
    fresh_generation: u32,
    _key: PhantomData<K>,
}

impl<K, V> Default for Slab<K, V> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
            fresh_generation: 1,
            _key: PhantomData,
        }
    }
}

impl<K: SlabKey, V> Slab<K, V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id the next [`Slab::insert`] returns, for an entity that must know its id (for its
    /// timers) before it is stored. Valid until the next insert or remove.
    pub(crate) fn vacant_key(&self) -> K {
        let raw = match self.free.last() {
            Some(&index) => match self.slots[index as usize] {
                Slot::Vacant { generation } => join(index as usize, generation),
                // Only vacant slots are listed as free.
                _ => join(index as usize, 0),
            },
            None => join(self.slots.len(), self.fresh_generation),
        };
        K::from_raw(raw)
    }

    /// Stores `value` and returns its id ([`Slab::vacant_key`] just before).
    pub(crate) fn insert(&mut self, value: V) -> K {
        self.len += 1;
        if let Some(index) = self.free.pop() {
            let slot = &mut self.slots[index as usize];
            let generation = match slot {
                Slot::Vacant { generation } => *generation,
                _ => 0,
            };
            *slot = Slot::Occupied {
                generation,
                value: Box::new(value),
            };
            return K::from_raw(join(index as usize, generation));
        }
        let index = self.slots.len();
        let generation = self.fresh_generation;
        self.slots.push(Slot::Occupied {
            generation,
            value: Box::new(value),
        });
        K::from_raw(join(index, generation))
    }

    /// Stores `value`, which was built knowing its id from [`Slab::vacant_key`].
    pub(crate) fn insert_at(&mut self, key: K, value: V) {
        let given = self.insert(value);
        debug_assert_eq!(
            given.raw(),
            key.raw(),
            "an insert came between vacant_key and insert_at"
        );
    }

    pub(crate) fn get(&self, key: impl Borrow<K>) -> Option<&V> {
        let (index, generation) = split(key.borrow().raw());
        match self.slots.get(index)? {
            Slot::Occupied {
                generation: g,
                value,
            } if *g == generation => Some(value),
            _ => None,
        }
    }

    pub(crate) fn get_mut(&mut self, key: impl Borrow<K>) -> Option<&mut V> {
        let (index, generation) = split(key.borrow().raw());
        match self.slots.get_mut(index)? {
            Slot::Occupied {
                generation: g,
                value,
            } if *g == generation => Some(value),
            _ => None,
        }
    }

    pub(crate) fn contains_key(&self, key: impl Borrow<K>) -> bool {
        self.get(key).is_some()
    }

    pub(crate) fn remove(&mut self, key: impl Borrow<K>) -> Option<V> {
        let (index, generation) = split(key.borrow().raw());
        let slot = self.slots.get_mut(index)?;
        if !matches!(slot, Slot::Occupied { generation: g, .. } if *g == generation) {
            return None;
        }
        let next = match generation.checked_add(1) {
            Some(next) => {
                self.fresh_generation = self.fresh_generation.max(next.saturating_add(1));
                Slot::Vacant { generation: next }
            }
            None => Slot::Retired,
        };
        let Slot::Occupied { value, .. } = core::mem::replace(slot, next) else {
            return None;
        };
        if matches!(self.slots[index], Slot::Vacant { .. }) {
            self.free.push(index as u32);
        }
        self.len -= 1;
        self.shrink();
        Some(*value)
    }

    /// Gives back the memory of a burst: once the slab is empty its slots are freed (a slab
    /// that held 10,000 sessions would otherwise keep their room for the engine's life). The
    /// generations live on in `fresh_generation`, so no id comes back.
    fn shrink(&mut self) {
        if self.len == 0 && self.slots.len() > 16 && self.fresh_generation < u32::MAX {
            self.slots = Vec::new();
            self.free = Vec::new();
        }
    }

    /// Entities in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, &V)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| match slot {
                Slot::Occupied { generation, value } => {
                    Some((K::from_raw(join(index, *generation)), &**value))
                }
                _ => None,
            })
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// Slots that are neither occupied nor free: each is an id space used up, never a value.
    #[cfg(test)]
    pub(crate) fn retired(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| matches!(s, Slot::Retired))
            .count()
    }

    /// The slab's own bookkeeping agrees with its slots.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let occupied = self
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Occupied { .. }))
            .count();
        if occupied != self.len {
            return Err("slab length differs from its occupied slots");
        }
        let vacant = self
            .slots
            .iter()
            .filter(|s| matches!(s, Slot::Vacant { .. }))
            .count();
        if vacant != self.free.len()
            || self
                .free
                .iter()
                .any(|&i| !matches!(self.slots.get(i as usize), Some(Slot::Vacant { .. })))
        {
            return Err("slab free list differs from its vacant slots");
        }
        Ok(())
    }
}

impl<K: SlabKey, V> core::ops::Index<K> for Slab<K, V> {
    type Output = V;

    fn index(&self, key: K) -> &V {
        match self.get(key) {
            Some(value) => value,
            None => panic!("no entity with this id"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Id(u64);

    impl SlabKey for Id {
        fn from_raw(raw: u64) -> Self {
            Id(raw)
        }
        fn raw(self) -> u64 {
            self.0
        }
    }

    #[test]
    fn a_removed_id_never_names_a_later_entity() {
        let mut slab: Slab<Id, u32> = Slab::default();
        let a = slab.insert(1);
        assert_eq!(slab.remove(a), Some(1));
        let b = slab.insert(2);
        assert_ne!(a, b, "the slot is reused with the next generation");
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        assert_eq!(slab.get(b), Some(&2));
        slab.check().unwrap();
    }

    #[test]
    fn an_emptied_slab_frees_its_slots_and_keeps_its_generations() {
        let mut slab: Slab<Id, u32> = Slab::default();
        let ids: Vec<Id> = (0..100).map(|i| slab.insert(i)).collect();
        for &id in &ids {
            slab.remove(id);
        }
        assert_eq!(slab.slots.capacity(), 0);
        let again: Vec<Id> = (0..100).map(|i| slab.insert(i)).collect();
        for id in &ids {
            assert!(!again.contains(id));
            assert_eq!(slab.get(*id), None);
        }
        slab.check().unwrap();
    }

    #[test]
    fn vacant_key_is_what_insert_returns() {
        let mut slab: Slab<Id, u32> = Slab::default();
        let first = slab.vacant_key();
        assert_eq!(slab.insert(0), first);
        let second = slab.insert(1);
        slab.remove(first);
        let reused = slab.vacant_key();
        slab.insert_at(reused, 2);
        assert_eq!(slab.get(reused), Some(&2));
        assert_eq!(slab.get(second), Some(&1));
        assert_eq!(slab.len(), 2);
    }

    #[test]
    fn an_exhausted_slot_is_retired() {
        let mut slab: Slab<Id, u32> = Slab::default();
        let id = slab.insert(0);
        slab.slots[0] = Slot::Occupied {
            generation: u32::MAX,
            value: Box::new(0),
        };
        let last = Id(join(0, u32::MAX));
        slab.insert(1);
        assert_eq!(slab.remove(last), Some(0));
        assert_eq!(slab.retired(), 1);
        let next = slab.insert(2);
        assert_ne!(split(next.raw()).0, 0, "a retired slot is not reused");
        assert_eq!(slab.get(id), None);
        slab.check().unwrap();
    }

    #[test]
    fn ids_stay_exact_in_a_javascript_number() {
        let mut slab: Slab<Id, u32> = Slab::default();
        let mut id = slab.insert(0);
        for i in 0..10_000 {
            slab.remove(id);
            id = slab.insert(i);
        }
        assert!(id.raw() < 1 << 53);
    }
}
