//! A look at a Parquet footer's schema before the parquet crate reads it. The footer
//! is Thrift (compact protocol) written by whoever wrote the file, and the crate
//! trusts two of its numbers: each schema element's `num_children` is used as an
//! allocation size as it stands (2^31 children from a 20-byte footer is a 16 GiB
//! allocation, which aborts the process), and the tree it describes is walked
//! recursively (a footer of nested groups overflows the stack). This reads only the
//! schema list, without recursion into the tree, and refuses a tree that does not
//! add up or nests deeper than onramp follows.

use crate::connectors::support::limits::MAX_NESTING;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// Elements still to be visited. The parquet crate skips booleans in lists
    /// without reading a byte for them, so its work is not bounded by the footer's
    /// length (a list of lists of booleans: seconds from 2 KiB, found by fuzzing);
    /// this walk goes the same way, and is held to a few steps per byte.
    work: usize,
}

// Compact protocol type codes.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;
const UUID: u8 = 13;

/// How deep structures nest in a footer: a real one goes about eight levels
/// (FileMetaData, row groups, column chunks, their metadata, statistics, logical
/// types). Checked over the whole footer, not only its schema.
const MAX_SKIP_DEPTH: usize = 16;

impl Reader<'_> {
    fn step(&mut self) -> Result<(), String> {
        self.work = self
            .work
            .checked_sub(1)
            .ok_or("the footer's structure is larger than its bytes")?;
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.at).ok_or("the footer ends early")?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint longer than 64 bits".into())
    }

    fn zigzag(&mut self) -> Result<i64, String> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn advance(&mut self, n: u64) -> Result<(), String> {
        let n = usize::try_from(n).map_err(|_| "a length past the footer")?;
        if n > self.bytes.len() - self.at {
            return Err("a length past the footer".into());
        }
        self.at += n;
        Ok(())
    }

    /// A list or set header: element type and count (bounded by what is left).
    fn list_header(&mut self) -> Result<(u8, u64), String> {
        let h = self.byte()?;
        let count = match h >> 4 {
            15 => self.varint()?,
            n => u64::from(n),
        };
        if count > (self.bytes.len() - self.at) as u64 {
            return Err("a list longer than the footer".into());
        }
        Ok((h & 0x0f, count))
    }

    /// The next field header of a struct: `None` at its end.
    fn field(&mut self, last: &mut i16) -> Result<Option<(i16, u8)>, String> {
        let h = self.byte()?;
        let ty = h & 0x0f;
        if ty == 0 {
            return Ok(None);
        }
        let id = match h >> 4 {
            0 => i16::try_from(self.zigzag()?).map_err(|_| "a field id out of range")?,
            delta => last
                .checked_add(i16::from(delta))
                .ok_or("a field id out of range")?,
        };
        *last = id;
        Ok(Some((id, ty)))
    }

    fn skip(&mut self, ty: u8, depth: usize) -> Result<(), String> {
        if depth > MAX_SKIP_DEPTH {
            return Err("structures nested too deeply".into());
        }
        match ty {
            BOOL_TRUE | BOOL_FALSE => Ok(()),
            BYTE => self.advance(1),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.advance(8),
            UUID => self.advance(16),
            BINARY => {
                let n = self.varint()?;
                self.advance(n)
            }
            LIST | SET => {
                let (elem, count) = self.list_header()?;
                for _ in 0..count {
                    self.step()?;
                    // Booleans in lists are read as the parquet crate reads them (no
                    // byte), so that both walks see the same fields after them.
                    self.skip(elem, depth + 1)?;
                }
                Ok(())
            }
            MAP => {
                let count = self.varint()?;
                if count == 0 {
                    return Ok(());
                }
                if count > (self.bytes.len() - self.at) as u64 {
                    return Err("a map longer than the footer".into());
                }
                let kv = self.byte()?;
                for _ in 0..count {
                    self.step()?;
                    self.skip(kv >> 4, depth + 1)?;
                    self.skip(kv & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last = 0;
                while let Some((_, ty)) = self.field(&mut last)? {
                    self.step()?;
                    self.skip(ty, depth + 1)?;
                }
                Ok(())
            }
            other => Err(format!("an unknown thrift type {other}")),
        }
    }
}

/// One element of a footer's schema, as far as onramp reads it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    /// Parquet's physical type (BOOLEAN = 0 … FIXED_LEN_BYTE_ARRAY = 7); none for a group.
    pub physical: Option<i32>,
    /// REQUIRED = 0, OPTIONAL = 1, REPEATED = 2.
    pub repetition: Option<i32>,
    pub num_children: i64,
    /// The converted type (UTF8 = 0, … JSON = 19, BSON = 20).
    pub converted: Option<i32>,
    /// The logical type: the field id of the LogicalType union that is set.
    pub logical: Option<i16>,
}

impl Reader<'_> {
    fn binary(&mut self) -> Result<String, String> {
        let n = self.varint()?;
        let start = self.at;
        self.advance(n)?;
        Ok(String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned())
    }

    /// Which member of a union struct is set (its field id), skipping its content.
    fn union_member(&mut self, depth: usize) -> Result<Option<i16>, String> {
        let (mut last, mut member) = (0, None);
        while let Some((id, ty)) = self.field(&mut last)? {
            self.step()?;
            member.get_or_insert(id);
            self.skip(ty, depth + 1)?;
        }
        Ok(member)
    }

    fn element(&mut self) -> Result<Element, String> {
        let (mut e, mut last) = (Element::default(), 0);
        while let Some((id, ty)) = self.field(&mut last)? {
            self.step()?;
            match (id, ty) {
                (1, I32) => e.physical = Some(self.zigzag()? as i32),
                (3, I32) => e.repetition = Some(self.zigzag()? as i32),
                (4, BINARY) => e.name = self.binary()?,
                (5, I32) => e.num_children = self.zigzag()?,
                (6, I32) => e.converted = Some(self.zigzag()? as i32),
                (10, STRUCT) => e.logical = self.union_member(2)?,
                (_, other) => self.skip(other, 2)?,
            }
        }
        Ok(e)
    }
}

/// The schema elements of a FileMetaData, in order; the whole footer is walked,
/// every field within the depth and work limits.
fn schema_elements(footer: &[u8]) -> Result<Vec<Element>, String> {
    let mut r = Reader {
        bytes: footer,
        at: 0,
        work: footer.len().saturating_mul(4).saturating_add(1024),
    };
    let mut last = 0;
    let mut elements = None;
    while let Some((id, ty)) = r.field(&mut last)? {
        if id != 2 || ty != LIST || elements.is_some() {
            r.skip(ty, 0)?;
            continue;
        }
        let (elem, count) = r.list_header()?;
        if elem != STRUCT {
            return Err("the schema is not a list of elements".into());
        }
        let mut found = Vec::with_capacity(count as usize);
        for _ in 0..count {
            r.step()?;
            found.push(r.element()?);
        }
        elements = Some(found);
    }
    elements.ok_or_else(|| "the footer has no schema".into())
}

/// The schema of a footer, checked: its tree adds up (as many elements as the
/// counts say) and nests at most `MAX_NESTING` levels.
pub fn schema(footer: &[u8]) -> Result<Vec<Element>, String> {
    let elements = schema_elements(footer)?;
    let children: Vec<i64> = elements.iter().map(|e| e.num_children).collect();
    check_tree(&children)?;
    Ok(elements)
}

/// Refuses a footer whose schema tree does not add up (more or fewer elements
/// than the counts say) or nests deeper than `MAX_NESTING`.
#[cfg(test)]
fn check_schema_tree(footer: &[u8]) -> Result<(), String> {
    schema(footer).map(drop)
}

fn check_tree(children: &[i64]) -> Result<(), String> {
    let total = children.len() as i64;
    // Children still expected at each open level, root first.
    let mut open: Vec<i64> = Vec::new();
    for (i, &n) in children.iter().enumerate() {
        if n < 0 || n >= total {
            return Err(format!(
                "a schema element claims {n} children of {total} elements"
            ));
        }
        if i > 0 {
            match open.last_mut() {
                Some(left) => *left -= 1,
                None => return Err("more schema elements than the tree holds".into()),
            }
        }
        if n > 0 {
            open.push(n);
            if open.len() > MAX_NESTING {
                return Err(format!("groups nested deeper than {MAX_NESTING} levels"));
            }
        }
        while open.last() == Some(&0) {
            open.pop();
        }
    }
    if !open.is_empty() {
        return Err("fewer schema elements than the tree declares".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FileMetaData with only field 2: one schema element per `num_children`.
    fn footer(children: &[i64]) -> Vec<u8> {
        let zigzag = |v: i64| ((v << 1) ^ (v >> 63)) as u64;
        let varint = |mut v: u64, out: &mut Vec<u8>| loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                break;
            }
            out.push(b | 0x80);
        };
        let mut out = vec![0x29]; // field 2 (delta 2), list
        out.push(0xfc); // size 15 = varint follows, element type struct
        varint(children.len() as u64, &mut out);
        for &n in children {
            out.push(0x48); // field 4 (delta 4), binary: the name
            out.push(1);
            out.push(b'c');
            out.push(0x15); // field 5 (delta 1), i32
            varint(zigzag(n), &mut out);
            out.push(0); // end of element
        }
        out.push(0); // end of FileMetaData
        out
    }

    #[test]
    fn a_tree_that_adds_up_passes_and_one_that_does_not_is_refused() {
        assert!(check_schema_tree(&footer(&[2, 0, 1, 0])).is_ok());
        // The 2^31-children root of a 20-byte footer.
        let e = check_schema_tree(&footer(&[i32::MAX as i64, 0])).unwrap_err();
        assert!(e.contains("children"), "{e}");
        assert!(check_schema_tree(&footer(&[3, 0])).is_err());
        assert!(check_schema_tree(&footer(&[1, 0, 0])).is_err());
        assert!(check_schema_tree(&footer(&[-1])).is_err());
        // Groups inside groups, deeper than onramp follows.
        let mut deep = vec![1i64; 40];
        deep.push(0);
        let e = check_schema_tree(&footer(&deep)).unwrap_err();
        assert!(e.contains("deeper"), "{e}");
        assert!(check_schema_tree(b"").is_err());
        // A footer the parquet crate took seconds over (found by fuzzing): refused at
        // once, for a length past its end that the crate reads its way to.
        let slow = include_bytes!("../../../fuzz/corpus/parquet_footer/regression-slow-footer");
        let started = std::time::Instant::now();
        assert!(check_schema_tree(slow).is_err());
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        // Lists of booleans the parquet crate walked without reading, for seconds
        // from 2 KiB (found by fuzzing): onramp's walk reads it at once.
        let bools = include_bytes!("../../../fuzz/corpus/parquet_footer/regression-bool-lists");
        let started = std::time::Instant::now();
        let _ = super::super::parquet::columns(bools);
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        // The footer of a real file passes.
        let real = include_bytes!("../../../fuzz/corpus/parquet_footer/footer");
        assert!(check_schema_tree(real).is_ok());
        assert!(check_schema_tree(&[0x29, 0xfc, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
