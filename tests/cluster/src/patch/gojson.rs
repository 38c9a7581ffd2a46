//! The syntax error texts of Go's encoding/json (scanner.go), which the real server puts into
//! the 400 answers to bodies that are not JSON.

/// scanner.go quoteChar
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => r"'\''".into(),
        b'"' => "'\"'".into(),
        0x20..=0x7e => format!("'{}'", c as char),
        b'\n' => r"'\n'".into(),
        b'\r' => r"'\r'".into(),
        b'\t' => r"'\t'".into(),
        c => format!(r"'\x{c:02x}'"),
    }
}

struct P<'a> {
    b: &'a [u8],
    i: usize,
}

type R = Result<(), String>;

const EOF: &str = "unexpected end of JSON input";

impl P<'_> {
    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }
    fn err(c: u8, ctx: &str) -> String {
        format!("invalid character {} {ctx}", quote_char(c))
    }
    fn value(&mut self) -> R {
        self.ws();
        let Some(c) = self.peek() else {
            return Err(EOF.into());
        };
        match c {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string(),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            b'-' | b'0'..=b'9' => self.number(),
            c => Err(Self::err(c, "looking for beginning of value")),
        }
    }
    fn object(&mut self) -> R {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.ws();
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'"') => self.string()?,
                Some(c) => {
                    return Err(Self::err(c, "looking for beginning of object key string"));
                }
            }
            self.ws();
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b':') => self.i += 1,
                Some(c) => return Err(Self::err(c, "after object key")),
            }
            self.value()?;
            self.ws();
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(c) => return Err(Self::err(c, "after object key:value pair")),
            }
        }
    }
    fn array(&mut self) -> R {
        self.i += 1;
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.value()?;
            self.ws();
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(());
                }
                Some(c) => return Err(Self::err(c, "after array element")),
            }
        }
    }
    fn string(&mut self) -> R {
        self.i += 1;
        loop {
            let Some(c) = self.peek() else {
                return Err(EOF.into());
            };
            self.i += 1;
            match c {
                b'"' => return Ok(()),
                b'\\' => {
                    let Some(e) = self.peek() else {
                        return Err(EOF.into());
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                        b'u' => {
                            for _ in 0..4 {
                                let Some(h) = self.peek() else {
                                    return Err(EOF.into());
                                };
                                if !h.is_ascii_hexdigit() {
                                    return Err(Self::err(
                                        h,
                                        r"in \u hexadecimal character escape",
                                    ));
                                }
                                self.i += 1;
                            }
                        }
                        e => return Err(Self::err(e, "in string escape code")),
                    }
                }
                c if c < 0x20 => return Err(Self::err(c, "in string literal")),
                _ => {}
            }
        }
    }
    fn literal(&mut self, word: &str) -> R {
        for want in word.bytes() {
            let Some(c) = self.peek() else {
                return Err(EOF.into());
            };
            if c != want {
                return Err(Self::err(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(want)),
                ));
            }
            self.i += 1;
        }
        Ok(())
    }
    fn number(&mut self) -> R {
        if self.peek() == Some(b'-') {
            self.i += 1;
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(Self::err(c, "in numeric literal")),
            }
        }
        if self.peek() == Some(b'0') {
            self.i += 1;
        } else {
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(Self::err(c, "after decimal point in numeric literal")),
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            match self.peek() {
                None => return Err(EOF.into()),
                Some(b'0'..=b'9') => {}
                Some(c) => return Err(Self::err(c, "in exponent of numeric literal")),
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        Ok(())
    }
}

/// The message Go's json.Unmarshal gives for a body that is not valid JSON (None if it is).
pub fn syntax_error(body: &[u8]) -> Option<String> {
    let mut p = P { b: body, i: 0 };
    if let Err(e) = p.value() {
        return Some(e);
    }
    p.ws();
    p.peek().map(|c| P::err(c, "after top-level value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// encoding/json scanner.go texts.
    #[test]
    fn go_json_syntax_errors() {
        assert_eq!(syntax_error(b"{\"a\":1}"), None);
        assert_eq!(
            syntax_error(b""),
            Some("unexpected end of JSON input".into())
        );
        assert_eq!(
            syntax_error(b"[{"),
            Some("unexpected end of JSON input".into())
        );
        assert_eq!(
            syntax_error(b"{nope"),
            Some("invalid character 'n' looking for beginning of object key string".into())
        );
        assert_eq!(
            syntax_error(b"nope"),
            Some("invalid character 'o' in literal null (expecting 'u')".into())
        );
        assert_eq!(
            syntax_error(b"x"),
            Some("invalid character 'x' looking for beginning of value".into())
        );
        assert_eq!(
            syntax_error(b"{\"a\" 1}"),
            Some("invalid character '1' after object key".into())
        );
        assert_eq!(
            syntax_error(b"{\"a\":1 \"b\"}"),
            Some("invalid character '\"' after object key:value pair".into())
        );
        assert_eq!(
            syntax_error(b"[1 2]"),
            Some("invalid character '2' after array element".into())
        );
        assert_eq!(
            syntax_error(b"{} x"),
            Some("invalid character 'x' after top-level value".into())
        );
    }
}
