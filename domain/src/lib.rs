//! The product's decisions as pure deciders: for each stream type, its commands, events,
//! state, `decide` and `evolve`. No IO, no async, no database (DESIGN.md, "Layout").
//! The deciders arrive with the domain issue; this crate depends on nothing of ours.
