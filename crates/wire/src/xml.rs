//! A small append-only XML writer for response documents. Escaping is quick-xml's.

use std::fmt::Write as _;

fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// Builds one XML document as a string, element by element.
#[derive(Debug, Default)]
pub struct XmlWriter {
    out: String,
}

impl XmlWriter {
    pub fn new() -> Self {
        Self {
            out: String::with_capacity(4096),
        }
    }

    pub fn open_ns(&mut self, name: &str, ns: &str) {
        let _ = write!(self.out, "<{name} xmlns=\"{ns}\">");
    }

    pub fn open(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    pub fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// `<name/>`, an empty element (an empty list).
    pub fn empty(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push_str("/>");
    }

    /// `<name>escaped text</name>`. Characters XML cannot carry (control characters, U+FFFE/U+FFFF) become
    /// U+FFFD so that a response is always a document clients can parse.
    pub fn text(&mut self, name: &str, value: &str) {
        self.open(name);
        let clean: std::borrow::Cow<'_, str> = if value.chars().all(xml_char) {
            value.into()
        } else {
            value
                .chars()
                .map(|c| if xml_char(c) { c } else { '\u{FFFD}' })
                .collect::<String>()
                .into()
        };
        self.out
            .push_str(&quick_xml::escape::escape(clean.as_ref()));
        self.close(name);
    }

    pub fn opt_text(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    pub fn int(&mut self, name: &str, value: i64) {
        let _ = write!(self.out, "<{name}>{value}</{name}>");
    }

    pub fn opt_int(&mut self, name: &str, value: Option<i64>) {
        if let Some(v) = value {
            self.int(name, v);
        }
    }

    pub fn bool(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    pub fn opt_bool(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.bool(name, v);
        }
    }

    /// A list of strings wrapped in `<name>` with each item in `<member>`.
    pub fn str_list<S: AsRef<str>>(&mut self, name: &str, member: &str, items: &[S]) {
        if items.is_empty() {
            self.empty(name);
            return;
        }
        self.open(name);
        for i in items {
            self.text(member, i.as_ref());
        }
        self.close(name);
    }

    pub fn finish(self) -> String {
        self.out
    }
}
