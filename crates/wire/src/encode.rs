//! Declarative encoding, the mirror of [`crate::decode`]. An output shape is declared once with its members' wire
//! names ([`output!`](crate::output!)), in the order they are written; how a member is written follows from its type ([`Element`]):
//! a string, number or boolean is an element with its text, a timestamp smithy's date-time, `Option<_>` is left out
//! when `None`, a list is its items under its item name (`member` unless `/ "Item"` says otherwise) and an empty
//! list `<Name/>`, a declared shape its members inside `<Name>`. What does not follow that pattern says so in its
//! declaration: `with f` writes the member with `f` (such as [`open_list`], a list written `<Name></Name>` when
//! empty), `by m` with the shape's method `m` (a member built from several fields), `if m` only when the shape's
//! method `m` says so; `const "Name" = value` is a member that is always the same. Fields without a wire name are
//! written by a neighbour's `by` method.
//!
//! An action's output is the shape whose members are its `<ActionResult>` ([`Body`]); [`respond`] writes the
//! response document.

use chrono::{DateTime, Utc};

use crate::xml::XmlWriter;

/// Formats a timestamp as smithy's date-time (`2024-01-01T00:00:00.000Z`).
pub fn timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Where a member is written: its element name, and the name of a list's items.
#[derive(Debug, Clone, Copy)]
pub struct At<'a> {
    pub name: &'a str,
    pub item: &'a str,
}

impl<'a> At<'a> {
    pub fn new(name: &'a str) -> Self {
        Self {
            name,
            item: "member",
        }
    }
}

/// A value written as an element.
pub trait Element {
    fn write(&self, w: &mut XmlWriter, at: At<'_>);
}

/// The members of an output shape, without its element: an action's `<ActionResult>` holds them. `RESULT` is
/// false for an output with no members, whose response has no `<ActionResult>` at all.
pub trait Body {
    const RESULT: bool = true;
    fn members(&self, w: &mut XmlWriter);
}

/// The output of an action that answers nothing but its request id (`DeleteCacheSubnetGroup`).
pub type Empty = ();

impl Body for () {
    const RESULT: bool = false;
    fn members(&self, _: &mut XmlWriter) {}
}

impl Element for str {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        w.text(at.name, self);
    }
}

impl Element for String {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        w.text(at.name, self);
    }
}

impl<T: Element + ?Sized> Element for &T {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        (**self).write(w, at);
    }
}

impl Element for bool {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        w.bool(at.name, *self);
    }
}

macro_rules! integers {
    ($($t:ty),*) => {
        $(impl Element for $t {
            fn write(&self, w: &mut XmlWriter, at: At<'_>) {
                w.int(at.name, i64::from(*self));
            }
        })*
    };
}
integers!(u16, i32, i64);

impl Element for DateTime<Utc> {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        w.text(at.name, &timestamp(self));
    }
}

impl<T: Element> Element for Option<T> {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        if let Some(v) = self {
            v.write(w, at);
        }
    }
}

/// A list: its items under the item name; `<Name/>` when empty.
impl<T: Element> Element for [T] {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        if self.is_empty() {
            w.empty(at.name);
            return;
        }
        open_list(self, w, at);
    }
}

impl<T: Element> Element for Vec<T> {
    fn write(&self, w: &mut XmlWriter, at: At<'_>) {
        self.as_slice().write(w, at);
    }
}

/// A list written `<Name></Name>` when empty (the pages of the Describe actions, a group's node groups).
pub fn open_list<T: Element>(items: &[T], w: &mut XmlWriter, at: At<'_>) {
    w.open(at.name);
    for i in items {
        i.write(w, At::new(at.item));
    }
    w.close(at.name);
}

/// [`open_list`] when there is a list at all.
pub fn open_list_if_any<T: Element>(items: &Option<Vec<T>>, w: &mut XmlWriter, at: At<'_>) {
    if let Some(items) = items {
        open_list(items, w, at);
    }
}

/// A list left out when empty.
pub fn nonempty_list<T: Element>(items: &[T], w: &mut XmlWriter, at: At<'_>) {
    if !items.is_empty() {
        open_list(items, w, at);
    }
}

/// Declares an output shape: the struct, its members' XML ([`Body`]) in declaration order, and the shape as an
/// element ([`Element`]). A member is `pub field: Type = "WireName"`, with `/ "Item"` for a list whose items are not
/// `member`, `with f`, `by m` and `if m` as the module says; `const "WireName" = value` is a member without a field.
/// Every member ends with a comma.
#[macro_export]
macro_rules! output {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $(
                $( const $cwire:literal = $cvalue:tt $(if $ccond:ident)? )?
                $(
                    $(#[$fmeta:meta])* pub $field:ident : $ty:ty
                    $(= $wire:literal $(/ $item:literal)? $(with $with:ident)? $(by $by:ident)? $(if $cond:ident)?)?
                )?,
            )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $( $(#[$fmeta])* pub $field: $ty, )? )*
        }

        impl $crate::encode::Body for $name {
            fn members(&self, w: &mut $crate::xml::XmlWriter) {
                $(
                    $( $crate::output_member!(self, w, [], $cwire, [], [], [$cvalue], [$($ccond)?]); )?
                    $( $(
                        $crate::output_member!(self, w, [$field], $wire, [$($item)?], [$($with)?], [$($by)?], [$($cond)?]);
                    )? )?
                )*
            }
        }

        impl $crate::encode::Element for $name {
            fn write(&self, w: &mut $crate::xml::XmlWriter, at: $crate::encode::At<'_>) {
                w.open(at.name);
                $crate::encode::Body::members(self, w);
                w.close(at.name);
            }
        }
    };
}

/// One member of an [`output!`] shape.
#[macro_export]
#[doc(hidden)]
macro_rules! output_member {
    ($s:ident, $w:ident, [$($field:ident)?], $wire:literal, [$($item:literal)?], [$($with:ident)?], [$($by:tt)?], [$($cond:ident)?]) => {
        if $crate::output_member!(@cond $s $($cond)?) {
            let at = $crate::encode::At {
                name: $wire,
                item: $crate::output_member!(@item $($item)?),
            };
            $crate::output_member!(@write $s, $w, at, [$($field)?], [$($with)?], [$($by)?]);
        }
    };
    (@cond $s:ident) => { true };
    (@cond $s:ident $cond:ident) => { $s.$cond() };
    (@item) => { "member" };
    (@item $item:literal) => { $item };
    (@write $s:ident, $w:ident, $at:ident, [$field:ident], [], []) => {
        $crate::encode::Element::write(&$s.$field, $w, $at)
    };
    (@write $s:ident, $w:ident, $at:ident, [$field:ident], [$with:ident], []) => {
        $with(&$s.$field, $w, $at)
    };
    (@write $s:ident, $w:ident, $at:ident, [$field:ident], [], [$by:ident]) => {
        $s.$by($w, $at)
    };
    (@write $s:ident, $w:ident, $at:ident, [], [], [$value:tt]) => {
        $crate::encode::Element::write(&$value, $w, $at)
    };
}

/// Wraps a result in `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…` (Result first).
pub fn envelope(action: &str, request_id: &str, result: impl FnOnce(&mut XmlWriter)) -> String {
    let mut w = XmlWriter::new();
    let response = format!("{action}Response");
    let result_name = format!("{action}Result");
    w.open_ns(&response, crate::XML_NAMESPACE);
    w.open(&result_name);
    result(&mut w);
    w.close(&result_name);
    w.open("ResponseMetadata");
    w.text("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&response);
    w.finish()
}

/// The response of an action whose output is empty (`DeleteCacheSubnetGroup`): only `ResponseMetadata`.
pub fn envelope_empty(action: &str, request_id: &str) -> String {
    let mut w = XmlWriter::new();
    let response = format!("{action}Response");
    w.open_ns(&response, crate::XML_NAMESPACE);
    w.open("ResponseMetadata");
    w.text("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&response);
    w.finish()
}

/// The response document of `action` with this output.
pub fn respond<B: Body>(action: &str, request_id: &str, output: &B) -> String {
    if B::RESULT {
        envelope(action, request_id, |w| output.members(w))
    } else {
        envelope_empty(action, request_id)
    }
}
