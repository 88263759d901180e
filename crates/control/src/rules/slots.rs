//! Hash-slot ranges of cluster-mode shards, as AWS deals them out and writes them: pure functions.
//!
//! A shard's slots are inclusive ranges in order, `[(0, 5461), (10923, 11000)]`, written `0-5461,10923-11000`.

use engine::cluster::SLOTS;

use crate::error::{invalid, Result};
pub use crate::model::slots::{count, text, Ranges};

/// Sorts `ranges` and joins those that touch or overlap.
pub fn normalize(mut ranges: Ranges) -> Ranges {
    ranges.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(ranges.len());
    for (a, b) in ranges {
        match out.last_mut() {
            Some((_, end)) if u32::from(a) <= u32::from(*end) + 1 => *end = (*end).max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// AWS's initial split of the 16384 slots over `n` shards: equal parts, the first shards taking one slot more
/// when they do not divide evenly (3 shards: `0-5461`, `5462-10922`, `10923-16383`).
pub fn initial_split(n: usize) -> Vec<Ranges> {
    let n = n.max(1) as u32;
    let total = u32::from(SLOTS);
    let (base, extra) = (total / n, total % n);
    let mut start = 0u32;
    (0..n)
        .map(|i| {
            let size = base + u32::from(i < extra);
            let r = vec![(start as u16, (start + size - 1) as u16)];
            start += size;
            r
        })
        .collect()
}

/// Reads a `Slots` value of `NodeGroupConfiguration`: `startkey-endkey` ranges (or single slots) joined by
/// commas, each within 0–16383.
pub fn parse(text: &str) -> Result<Ranges> {
    let bad = || {
        invalid(format!(
            "Invalid Slots '{}': give ranges such as 0-5461 (or 0-100,200-300), within 0-{}.",
            crate::rules::shown(text),
            SLOTS - 1
        ))
    };
    let mut out = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let a: u16 = a.parse().map_err(|_| bad())?;
        let b: u16 = b.parse().map_err(|_| bad())?;
        if a > b || b >= SLOTS {
            return Err(bad());
        }
        out.push((a, b));
    }
    let n = normalize(out.clone());
    if count(&n) != count(&out) {
        return Err(invalid(format!(
            "Invalid Slots '{}': its ranges overlap.",
            crate::rules::shown(text)
        )));
    }
    Ok(n)
}

/// Whether `shards` cover every slot exactly once.
pub fn covers_all_once(shards: &[Ranges]) -> bool {
    let all: Ranges = shards.iter().flatten().copied().collect();
    let n = normalize(all);
    shards.iter().map(|s| count(s)).sum::<u32>() == u32::from(SLOTS) && n == vec![(0, SLOTS - 1)]
}

/// Slots to move from one shard to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: usize,
    pub to: usize,
    pub ranges: Ranges,
}

/// The moves that spread the slots of `shards` evenly over those `kept` (16384/N each, the remainder one slot
/// apiece to those holding most now, so that as little as possible moves): a removed shard gives all it has, a
/// shard over its share gives the surplus from the low end of its ranges, and shards under their share take,
/// in order. `shards` and `kept` are index-aligned; a new shard is an empty, kept one.
pub fn rebalance(shards: &[Ranges], kept: &[bool]) -> Vec<Move> {
    let keep: Vec<usize> = (0..shards.len()).filter(|&i| kept[i]).collect();
    if keep.is_empty() {
        return vec![];
    }
    let n = keep.len() as u32;
    let (base, extra) = (u32::from(SLOTS) / n, u32::from(SLOTS) % n);
    // Who gets the extra slots: the kept shards holding most now (the lower index on a tie).
    let mut by_size = keep.clone();
    by_size.sort_by_key(|&i| (std::cmp::Reverse(count(&shards[i])), i));
    let mut target = vec![0u32; shards.len()];
    for (rank, &i) in by_size.iter().enumerate() {
        target[i] = base + u32::from((rank as u32) < extra);
    }
    let mut left: Vec<Ranges> = shards.to_vec();
    let mut surplus: Vec<(usize, u32)> = (0..shards.len())
        .filter_map(|i| {
            let over = count(&shards[i]).saturating_sub(target[i]);
            (over > 0).then_some((i, over))
        })
        .collect();
    let deficit: Vec<(usize, u32)> = keep
        .iter()
        .filter_map(|&i| {
            let under = target[i].saturating_sub(count(&shards[i]));
            (under > 0).then_some((i, under))
        })
        .collect();
    let mut moves = Vec::new();
    let mut d = 0;
    for (to, mut want) in deficit {
        while want > 0 && d < surplus.len() {
            let (from, give) = &mut surplus[d];
            let k = want.min(*give);
            let (taken, rest) = take_low(&left[*from], k);
            left[*from] = rest;
            moves.push(Move {
                from: *from,
                to,
                ranges: taken,
            });
            want -= k;
            *give -= k;
            if *give == 0 {
                d += 1;
            }
        }
    }
    moves
}

/// The `k` lowest slots of `ranges`, and what is left.
fn take_low(ranges: &[(u16, u16)], mut k: u32) -> (Ranges, Ranges) {
    let mut taken = Vec::new();
    let mut rest = Vec::new();
    for &(a, b) in ranges {
        let len = u32::from(b) - u32::from(a) + 1;
        if k == 0 {
            rest.push((a, b));
        } else if len <= k {
            taken.push((a, b));
            k -= len;
        } else {
            let cut = a + k as u16;
            taken.push((a, cut - 1));
            rest.push((cut, b));
            k = 0;
        }
    }
    (taken, rest)
}

/// `shards` after `moves`.
pub fn apply(shards: &[Ranges], moves: &[Move]) -> Vec<Ranges> {
    let mut out: Vec<Ranges> = shards.to_vec();
    for m in moves {
        let gone: Ranges = m.ranges.clone();
        out[m.from] = subtract(&out[m.from], &gone);
        let mut to = out[m.to].clone();
        to.extend(gone);
        out[m.to] = normalize(to);
    }
    out
}

/// `ranges` without the slots of `remove`.
pub fn subtract(ranges: &[(u16, u16)], remove: &[(u16, u16)]) -> Ranges {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        let mut pieces = vec![(u32::from(a), u32::from(b))];
        for &(x, y) in remove {
            let (x, y) = (u32::from(x), u32::from(y));
            pieces = pieces
                .into_iter()
                .flat_map(|(p, q)| {
                    let mut v = Vec::new();
                    if y < p || x > q {
                        v.push((p, q));
                    } else {
                        if x > p {
                            v.push((p, x - 1));
                        }
                        if y < q {
                            v.push((y + 1, q));
                        }
                    }
                    v
                })
                .collect();
        }
        out.extend(pieces.into_iter().map(|(p, q)| (p as u16, q as u16)));
    }
    normalize(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn even(after: &[Ranges], kept: &[bool]) {
        let sizes: Vec<u32> = after
            .iter()
            .zip(kept)
            .filter(|(_, k)| **k)
            .map(|(r, _)| count(r))
            .collect();
        let n = sizes.len() as u32;
        for s in &sizes {
            assert!(*s == 16384 / n || *s == 16384 / n + 1, "{sizes:?}");
        }
        for (r, k) in after.iter().zip(kept) {
            if !k {
                assert!(r.is_empty());
            }
        }
        let live: Vec<Ranges> = after.to_vec();
        assert!(covers_all_once(&live));
    }

    #[test]
    fn rebalancing_spreads_slots_evenly() {
        // 3 → 4: the new shard takes from each of the three.
        let mut shards = initial_split(3);
        shards.push(vec![]);
        let kept = [true; 4];
        let moves = rebalance(&shards, &kept);
        assert_eq!(moves.len(), 3);
        assert!(moves.iter().all(|m| m.to == 3));
        let after = apply(&shards, &moves);
        even(&after, &kept);
        assert_eq!(text(&after[3]), "0-1365,5462-6826,10923-12287");
        // 4 → 2: two shards give everything to the other two.
        let kept = [true, false, true, false];
        let moves = rebalance(&after, &kept);
        let after2 = apply(&after, &moves);
        even(&after2, &kept);
        // Already even: nothing to do.
        assert!(rebalance(&initial_split(5), &[true; 5]).is_empty());
        // Uneven by hand: rebalanced.
        let shards = vec![vec![(0, 15000)], vec![(15001, 16383)]];
        let after = apply(&shards, &rebalance(&shards, &[true, true]));
        even(&after, &[true, true]);
        assert_eq!(
            subtract(&[(0, 100)], &[(10, 20), (50, 50)]),
            vec![(0, 9), (21, 49), (51, 100)]
        );
    }

    #[test]
    fn initial_split_gives_the_remainder_to_the_first_shards() {
        let three = initial_split(3);
        assert_eq!(text(&three[0]), "0-5461");
        assert_eq!(text(&three[1]), "5462-10922");
        assert_eq!(text(&three[2]), "10923-16383");
        let two = initial_split(2);
        assert_eq!(text(&two[0]), "0-8191");
        assert_eq!(text(&two[1]), "8192-16383");
        for n in [1, 5, 7, 90] {
            let s = initial_split(n);
            assert_eq!(s.len(), n);
            assert!(covers_all_once(&s), "{n}");
            let sizes: Vec<u32> = s.iter().map(|r| count(r)).collect();
            assert!(sizes.iter().max().expect("max") - sizes.iter().min().expect("min") <= 1);
        }
    }

    #[test]
    fn slots_strings() {
        assert_eq!(parse("0-5461").expect("ok"), vec![(0, 5461)]);
        assert_eq!(
            parse("10923-11000,0-324,325").expect("ok"),
            vec![(0, 325), (10923, 11000)]
        );
        assert_eq!(text(&parse("0-3999").expect("ok")), "0-3999");
        for bad in ["", "a-b", "5-1", "0-16384", "0-10,5-20", "-1", "1-2-3"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(!covers_all_once(&[vec![(0, 100)]]));
        assert!(!covers_all_once(&[vec![(0, 16383)], vec![(5, 5)]]));
    }
}
