//! Distance transforms (work in progress).
