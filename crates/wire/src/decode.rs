//! Declarative decoding. An input shape is declared once, with each member's wire name ([`input!`] for an
//! action's input, [`structure!`] for a structure nested in one); the member's Rust type says how it is read
//! ([`Member`]): `String` is required, `Option<_>` optional, `Vec<String>` a list of strings, `Vec<S>` a list of
//! structures, `S` a nested structure. What is left in the form once every member is taken is refused.

use chrono::{DateTime, Utc};

use crate::error::ApiError;
use crate::form::Form;
use crate::input::Secret;

/// Where a member is read: its wire name, the name of a list's items (`AvailabilityZone` in
/// `PreferredCacheClusterAZs.AvailabilityZone.1`), the values an enumeration allows (empty: any), and the action
/// (for the message about a member the action does not have).
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub name: &'a str,
    pub item: &'a str,
    pub allowed: &'a [&'a str],
    pub action: &'a str,
}

/// A member type: how it is taken from the form.
pub trait Member: Sized {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError>;
}

/// Whether a request gave a member: an optional one when present; a required one always (decoding refused the
/// request without it).
pub trait Given {
    fn given(&self) -> bool;
}

impl<T> Given for Option<T> {
    fn given(&self) -> bool {
        self.is_some()
    }
}

macro_rules! always_given {
    ($($t:ty),*) => {
        $(impl Given for $t {
            fn given(&self) -> bool {
                true
            }
        })*
    };
}
always_given!(String, bool, i32);

impl<T> Given for Vec<T> {
    fn given(&self) -> bool {
        true
    }
}

/// A structure nested in an input: decoded from the sub-form of its members.
pub trait Structure: Sized {
    fn decode_in(f: Form, action: &str) -> Result<Self, ApiError>;
}

fn text(f: &mut Form, at: At<'_>) -> Result<Option<String>, ApiError> {
    if at.allowed.is_empty() {
        Ok(f.string(at.name))
    } else {
        f.enumeration(at.name, at.allowed)
    }
}

impl Member for Option<String> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        text(f, at)
    }
}

impl Member for String {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        text(f, at)?.ok_or_else(|| f.missing(at.name))
    }
}

impl Member for Option<Secret> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        Ok(f.string(at.name).map(Secret))
    }
}

impl Member for Option<bool> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.boolean(at.name)
    }
}

impl Member for bool {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.boolean(at.name)?.ok_or_else(|| f.missing(at.name))
    }
}

impl Member for Option<i32> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.integer(at.name)
    }
}

impl Member for i32 {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.integer(at.name)?.ok_or_else(|| f.missing(at.name))
    }
}

impl Member for Option<DateTime<Utc>> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.timestamp(at.name)
    }
}

impl Member for Option<Vec<String>> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.string_list(at.name, at.item)
    }
}

/// A list of strings whose items come under the model's item name or under `member`: ElastiCache's own user guide
/// sends `NodeGroupsToRemove.member.1` where the SDKs send `NodeGroupsToRemove.NodeGroupToRemove.1`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EitherItems(pub Vec<String>);

impl Member for Option<EitherItems> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        if let Some(v) = f.string_list(at.name, at.item)? {
            return Ok(Some(EitherItems(v)));
        }
        Ok(f.string_list(at.name, "member")?.map(EitherItems))
    }
}

impl Member for Vec<String> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        f.string_list(at.name, at.item)?
            .ok_or_else(|| f.missing(at.name))
    }
}

impl Member for Option<Vec<Secret>> {
    fn read(f: &mut Form, at: At<'_>) -> Result<Self, ApiError> {
        Ok(f.string_list(at.name, at.item)?
            .map(|l| l.into_iter().map(Secret).collect()))
    }
}

/// A list of structures, `Name.Item.N.Member`, when it was sent.
pub fn structures<S: Structure>(f: &mut Form, at: At<'_>) -> Result<Option<Vec<S>>, ApiError> {
    let Some(items) = f.struct_list(at.name, at.item)? else {
        return Ok(None);
    };
    items
        .into_iter()
        .map(|item| S::decode_in(item, at.action))
        .collect::<Result<Vec<S>, ApiError>>()
        .map(Some)
}

/// A nested structure, `Name.Member`, when any of its members was sent.
pub fn nested<S: Structure>(f: &mut Form, at: At<'_>) -> Result<Option<S>, ApiError> {
    f.structure(at.name)
        .map(|sub| S::decode_in(sub, at.action))
        .transpose()
}

/// The [`Member`] impls of a structure type: a list of it (optional or required) and one nested (optional).
#[macro_export]
#[doc(hidden)]
macro_rules! structure_members {
    ($t:ty) => {
        impl $crate::decode::Member for Option<Vec<$t>> {
            fn read(
                f: &mut $crate::form::Form,
                at: $crate::decode::At<'_>,
            ) -> Result<Self, $crate::error::ApiError> {
                $crate::decode::structures(f, at)
            }
        }
        impl $crate::decode::Member for Vec<$t> {
            fn read(
                f: &mut $crate::form::Form,
                at: $crate::decode::At<'_>,
            ) -> Result<Self, $crate::error::ApiError> {
                $crate::decode::structures(f, at)?.ok_or_else(|| f.missing(at.name))
            }
        }
        impl $crate::decode::Member for Option<$t> {
            fn read(
                f: &mut $crate::form::Form,
                at: $crate::decode::At<'_>,
            ) -> Result<Self, $crate::error::ApiError> {
                $crate::decode::nested(f, at)
            }
        }
    };
}

/// Reads every member of a declared shape from `$f`, in declaration order.
#[macro_export]
#[doc(hidden)]
macro_rules! read_members {
    ($f:ident, $action:expr, $( $field:ident : $ty:ty = $wire:literal $(/ $item:literal)? $(in [$($v:literal),* $(,)?])? ),* $(,)?) => {
        Self {
            $(
                $field: <$ty as $crate::decode::Member>::read(
                    &mut $f,
                    $crate::decode::At {
                        name: $wire,
                        item: $crate::read_members!(@item $($item)?),
                        allowed: &[$($($v),*)?],
                        action: $action,
                    },
                )?,
            )*
        }
    };
    (@item) => { "member" };
    (@item $item:literal) => { $item };
}

/// Declares the input of an action: the struct, and `decode`, which takes every member by its wire name and refuses
/// what is left. A member is `field: Type = "WireName"`, with `/ "Item"` for a list whose items are not named
/// `member`, and `in ["a", "b"]` for an enumeration.
#[macro_export]
macro_rules! input {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($action:literal) {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $wire:literal $(/ $item:literal)? $(in [$($v:literal),* $(,)?])? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            pub const ACTION: &'static str = $action;

            pub fn decode(mut f: $crate::form::Form) -> Result<Self, $crate::error::ApiError> {
                let input = $crate::read_members!(f, Self::ACTION, $( $field : $ty = $wire $(/ $item)? $(in [$($v),*])? ),*);
                f.finish(Self::ACTION)?;
                Ok(input)
            }

            /// The wire names of the members this request gave, in declaration order.
            pub fn given(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if $crate::decode::Given::given(&self.$field) { out.push($wire); } )*
                out
            }
        }
    };
}

/// Declares a structure nested in inputs, as [`input!`] does an input.
#[macro_export]
macro_rules! structure {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ty = $wire:literal $(/ $item:literal)? $(in [$($v:literal),* $(,)?])? ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::decode::Structure for $name {
            fn decode_in(
                mut f: $crate::form::Form,
                action: &str,
            ) -> Result<Self, $crate::error::ApiError> {
                let value = $crate::read_members!(f, action, $( $field : $ty = $wire $(/ $item)? $(in [$($v),*])? ),*);
                f.finish(action)?;
                Ok(value)
            }
        }

        $crate::structure_members!($name);
    };
}
