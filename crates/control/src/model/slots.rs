//! Hash-slot ranges as a shard holds them: inclusive ranges in order, `[(0, 5461), (10923, 11000)]`, written
//! `0-5461,10923-11000`. AWS's rules over them are in `rules::slots`.

/// Inclusive slot ranges, in order, none touching another.
pub type Ranges = Vec<(u16, u16)>;

/// How many slots `ranges` hold.
pub fn count(ranges: &[(u16, u16)]) -> u32 {
    ranges
        .iter()
        .map(|(a, b)| u32::from(*b) - u32::from(*a) + 1)
        .sum()
}

/// `Slots` as AWS writes it.
pub fn text(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|(a, b)| format!("{a}-{b}"))
        .collect::<Vec<_>>()
        .join(",")
}
