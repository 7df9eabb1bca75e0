//! The counting notes that `export` writes into node `doc_string`s.
//!
//! Each note is one line of the `doc_string`: fixed words, then `key=value`
//! fields in a fixed order, where the last field takes the rest of the line.
//! Lines that start with none of the fixed words are free text and ignored.

/// A counting note on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Note {
    /// On a Conv: it absorbed BatchNorm `name`. `conv_bias` is whether the
    /// convolution had a bias of its own before folding.
    FoldedBatchNorm {
        affine: bool,
        conv_bias: bool,
        name: String,
    },
    /// On a BatchNormalization node: whether the layer has learnable
    /// scale and shift.
    BatchNorm { affine: bool, name: String },
    /// A ReLU that read zeros and emitted no node. The zeros are shaped like
    /// every `stride`-th row and column of the value `zeros_of`.
    ElidedRelu { stride: u64, zeros_of: String },
}

const FOLDED_BATCH_NORM: &str = "folded BatchNorm2d ";
const BATCH_NORM: &str = "BatchNorm2d ";
const ELIDED_RELU: &str = "elided Relu ";

/// Parses every note in a `doc_string`. A line that starts like a note but
/// does not parse is an error, returned with the line.
pub(crate) fn parse_notes(doc_string: &str) -> Result<Vec<Note>, (String, String)> {
    let mut notes = Vec::new();
    for line in doc_string.lines() {
        let parsed = if let Some(rest) = line.strip_prefix(FOLDED_BATCH_NORM) {
            parse_folded(rest)
        } else if let Some(rest) = line.strip_prefix(BATCH_NORM) {
            parse_batch_norm(rest)
        } else if let Some(rest) = line.strip_prefix(ELIDED_RELU) {
            parse_elided_relu(rest)
        } else {
            continue;
        };
        notes.push(parsed.map_err(|reason| (line.to_owned(), reason))?);
    }
    Ok(notes)
}

fn parse_folded(text: &str) -> Result<Note, String> {
    let mut fields = Fields { rest: text };
    let affine = parse_bool(fields.next("affine")?)?;
    let conv_bias = parse_bool(fields.next("conv_bias")?)?;
    let name = fields.last("name")?;
    Ok(Note::FoldedBatchNorm {
        affine,
        conv_bias,
        name,
    })
}

fn parse_batch_norm(text: &str) -> Result<Note, String> {
    let mut fields = Fields { rest: text };
    let affine = parse_bool(fields.next("affine")?)?;
    let name = fields.last("name")?;
    Ok(Note::BatchNorm { affine, name })
}

fn parse_elided_relu(text: &str) -> Result<Note, String> {
    let mut fields = Fields { rest: text };
    let stride_text = fields.next("stride")?;
    let stride = match stride_text.parse::<u64>() {
        Ok(stride) if stride >= 1 => stride,
        _ => {
            return Err(format!(
                "stride {stride_text:?} is not an integer of at least 1"
            ))
        }
    };
    let zeros_of = fields.last("zeros_of")?;
    Ok(Note::ElidedRelu { stride, zeros_of })
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("expected `true` or `false`, found {text:?}")),
    }
}

/// The `key=value` fields after a note's fixed words.
struct Fields<'a> {
    rest: &'a str,
}

impl<'a> Fields<'a> {
    /// Takes the next whitespace-separated field, which must be `key=...`.
    fn next(&mut self, key: &str) -> Result<&'a str, String> {
        let text = self.rest.trim_start();
        let end = text.find(char::is_whitespace).unwrap_or(text.len());
        let (field, rest) = text.split_at(end);
        self.rest = rest;
        strip_key(field, key)
    }

    /// Takes the rest of the line as the value of `key`, which must not be empty.
    fn last(&mut self, key: &str) -> Result<String, String> {
        let value = strip_key(self.rest.trim(), key)?;
        if value.is_empty() {
            return Err(format!("field `{key}` is empty"));
        }
        Ok(value.to_owned())
    }
}

fn strip_key<'a>(field: &'a str, key: &str) -> Result<&'a str, String> {
    field
        .strip_prefix(key)
        .and_then(|rest| rest.strip_prefix('='))
        .ok_or_else(|| format!("expected field `{key}=...`, found {field:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_note_parsed() {
        let notes = parse_notes("folded BatchNorm2d affine=true conv_bias=false name=cells.0.op.2");
        let expected = Note::FoldedBatchNorm {
            affine: true,
            conv_bias: false,
            name: "cells.0.op.2".to_owned(),
        };
        assert_eq!(notes, Ok(vec![expected]));
    }

    #[test]
    fn notes_among_free_text() {
        let text = "made by hand\nBatchNorm2d affine=false name=bn 1\n\
                    elided Relu stride=2 zeros_of=conv_3";
        let notes = parse_notes(text).unwrap();
        assert_eq!(
            notes[0],
            Note::BatchNorm {
                affine: false,
                name: "bn 1".to_owned()
            }
        );
        assert_eq!(
            notes[1],
            Note::ElidedRelu {
                stride: 2,
                zeros_of: "conv_3".to_owned()
            }
        );
        assert_eq!(notes.len(), 2);
    }

    #[test]
    fn malformed_notes_rejected() {
        let cases = [
            (
                "folded BatchNorm2d affine=yes conv_bias=false name=bn",
                "`true` or `false`",
            ),
            (
                "folded BatchNorm2d conv_bias=false affine=true name=bn",
                "`affine=...`",
            ),
            ("BatchNorm2d affine=true name=", "field `name` is empty"),
            ("elided Relu stride=0 zeros_of=x", "at least 1"),
            ("elided Relu zeros_of=x", "`stride=...`"),
        ];
        for (text, reason) in cases {
            let (line, message) = parse_notes(text).unwrap_err();
            assert_eq!(line, text);
            assert!(message.contains(reason), "{text}: {message}");
        }
    }
}
