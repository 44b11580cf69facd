use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use super::{Frame, LineDecoder, encode_line};

fn decode_all(decoder: &mut LineDecoder, mut input: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Some(frame) = decoder.decode(&mut input) {
        frames.push(frame);
    }
    assert!(
        input.is_empty(),
        "decode returns None only once the input is used up"
    );
    frames
}

fn line(bytes: &[u8]) -> Frame {
    Frame::Line(bytes.to_vec())
}

#[test]
fn splits_on_newlines_and_drops_carriage_returns() {
    let mut decoder = LineDecoder::new(16);
    let frames = decode_all(&mut decoder, b"one\ntwo\r\n\n  \r\n\tthree\n");
    assert_eq!(frames, vec![line(b"one"), line(b"two"), line(b"\tthree")]);
    assert_eq!(decoder.buffered_bytes(), 0);
}

#[test]
fn a_line_at_the_limit_is_accepted_and_one_past_it_is_refused() {
    let mut decoder = LineDecoder::new(4);
    assert_eq!(decode_all(&mut decoder, b"abcd\n"), vec![line(b"abcd")]);
    assert_eq!(decode_all(&mut decoder, b"abcd\r\n"), vec![line(b"abcd")]);
    assert_eq!(
        decode_all(&mut decoder, b"abcde\nok\n"),
        vec![Frame::TooLong, line(b"ok")]
    );
    assert_eq!(
        decode_all(&mut decoder, b"abcd\r\r\nok\n"),
        vec![Frame::TooLong, line(b"ok")]
    );
}

#[test]
fn an_endless_line_is_refused_once_and_never_buffered() {
    let mut decoder = LineDecoder::new(8);
    let mut frames = decode_all(&mut decoder, b"0123");
    assert!(frames.is_empty());
    frames.extend(decode_all(&mut decoder, b"456789"));
    assert_eq!(frames, vec![Frame::TooLong]);
    for _ in 0..1000 {
        assert!(decode_all(&mut decoder, &[b'x'; 4096]).is_empty());
        assert_eq!(decoder.buffered_bytes(), 0);
        assert!(decoder.is_discarding());
    }
    assert_eq!(
        decode_all(&mut decoder, b"tail\nnext\n"),
        vec![line(b"next")]
    );
    assert!(!decoder.is_discarding());
}

#[test]
fn a_carriage_return_may_wait_at_the_limit_for_its_newline() {
    let mut decoder = LineDecoder::new(3);
    assert!(decode_all(&mut decoder, b"abc\r").is_empty());
    assert_eq!(decoder.buffered_bytes(), 4);
    assert_eq!(decode_all(&mut decoder, b"\n"), vec![line(b"abc")]);
    assert!(decode_all(&mut decoder, b"abc\r").is_empty());
    assert_eq!(decode_all(&mut decoder, b"d"), vec![Frame::TooLong]);
}

#[test]
fn the_last_line_may_come_without_its_newline() {
    let mut decoder = LineDecoder::new(8);
    assert_eq!(decode_all(&mut decoder, b"a\nlast"), vec![line(b"a")]);
    assert_eq!(decoder.finish(), Some(line(b"last")));
    assert_eq!(decoder.finish(), None);

    assert!(decode_all(&mut decoder, b"much too long").len() == 1);
    assert_eq!(
        decoder.finish(),
        None,
        "the rest of a refused line is never a message"
    );
    assert_eq!(decode_all(&mut decoder, b"x\n"), vec![line(b"x")]);
}

#[test]
fn encoding_keeps_one_message_on_one_line() {
    let mut out = Vec::new();
    encode_line(b"{\r\n  \"a\": \"b\\nc\"\n}", &mut out);
    assert_eq!(out, b"{    \"a\": \"b\\nc\" }\n");
    let mut decoder = LineDecoder::new(64);
    assert_eq!(
        decode_all(&mut decoder, &out),
        vec![line(&out[..out.len() - 1])]
    );
}

fn frames_in_one_piece(max: usize, input: &[u8]) -> Vec<Frame> {
    let mut decoder = LineDecoder::new(max);
    let mut frames = decode_all(&mut decoder, input);
    frames.extend(decoder.finish());
    frames
}

proptest! {
    /// However the stream is cut into reads, the same frames come out, and the decoder never
    /// holds more than the limit (plus one `\r`).
    #[test]
    fn any_split_of_the_input_yields_the_same_frames(
        input in proptest::collection::vec(
            prop_oneof![Just(b'\n'), Just(b'\r'), Just(b' '), Just(b'x'), any::<u8>()],
            0..400,
        ),
        cuts in proptest::collection::vec(0usize..400, 0..40),
        max in 0usize..24,
    ) {
        let whole = frames_in_one_piece(max, &input);
        let mut cuts: Vec<usize> = cuts.into_iter().map(|cut| cut.min(input.len())).collect();
        cuts.sort_unstable();
        let mut decoder = LineDecoder::new(max);
        let mut pieces = Vec::new();
        let mut start = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            pieces.extend(decode_all(&mut decoder, &input[start..cut]));
            prop_assert!(decoder.buffered_bytes() <= max + 1);
            start = cut;
        }
        pieces.extend(decoder.finish());
        prop_assert_eq!(pieces, whole);
    }

    /// Lines written with `encode_line` come back byte for byte (less their line breaks).
    #[test]
    fn encoded_messages_come_back(
        messages in proptest::collection::vec("[a-z{}\":, ]{1,30}", 0..20),
    ) {
        let mut stream = Vec::new();
        for message in &messages {
            encode_line(message.as_bytes(), &mut stream);
        }
        let frames = frames_in_one_piece(64, &stream);
        let expected: Vec<Frame> = messages
            .iter()
            .filter(|message| !message.trim().is_empty())
            .map(|message| line(message.as_bytes()))
            .collect();
        prop_assert_eq!(frames, expected);
    }
}
