//! The counting global allocator of the tests that check a path never allocates
//! (the data-path rule). Each test binary that uses it installs it:
//!
//! ```ignore
//! mod alloc_support;
//! #[global_allocator]
//! static GLOBAL: alloc_support::Counting = alloc_support::Counting;
//! ```
//!
//! Only allocations made on the calling thread while [`allocations_in`] runs count,
//! so tests running in parallel do not disturb each other.
#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

pub struct Counting;

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn note() {
    if WATCHING.with(Cell::get) {
        COUNT.with(|c| c.set(c.get() + 1));
    }
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Run `f`; return what it returned and how many allocations (and reallocations) it
/// made on this thread.
pub fn allocations_in<R>(f: impl FnOnce() -> R) -> (R, u64) {
    let before = COUNT.with(Cell::get);
    WATCHING.with(|w| w.set(true));
    let r = f();
    WATCHING.with(|w| w.set(false));
    (r, COUNT.with(Cell::get) - before)
}
