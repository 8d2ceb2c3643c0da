//! Binary HTTP (RFC 9292) against the examples of RFC 9292 §5, and its invalid messages.
//!
//! The four example encodings are copied from RFC 9292 §5 (Figures 8, 9, 11 and 13; the
//! same hex is in the httpwg/http-extensions draft source). Each decodes to the message the
//! RFC shows, and this encoder reproduces each byte for byte.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qsafe_gateway::ohttp::bhttp::{
    self, Encoding, Error, Field, Framing, Informational, Limits, Request, Response,
};

/// Figure 8: known-length encoding of the request of Figure 7.
const FIG8: &str = "00034745 54056874 74707300 0a2f6865 6c6c6f2e 74787440 6c0a7573 65722d61\
                    67656e74 34637572 6c2f372e 31362e33 206c6962 6375726c 2f372e31 362e3320\
                    4f70656e 53534c2f 302e392e 376c207a 6c69622f 312e322e 3304686f 73740f77\
                    77772e65 78616d70 6c652e63 6f6d0f61 63636570 742d6c61 6e677561 67650665\
                    6e2c206d 690000";
/// Figure 9: the same request, indeterminate-length, with 10 bytes of padding.
const FIG9: &str = "02034745 54056874 74707300 0a2f6865 6c6c6f2e 7478740a 75736572 2d616765\
                    6e743463 75726c2f 372e3136 2e33206c 69626375 726c2f37 2e31362e 33204f70\
                    656e5353 4c2f302e 392e376c 207a6c69 622f312e 322e3304 686f7374 0f777777\
                    2e657861 6d706c65 2e636f6d 0f616363 6570742d 6c616e67 75616765 06656e2c\
                    206d6900 00000000 00000000 00000000";
/// Figure 11: indeterminate-length response with informational responses 102 and 103.
const FIG11: &str = "03406607 72756e6e 696e670a 22736c65 65702031 35220040 67046c69 6e6b233c\
                     2f737479 6c652e63 73733e3b 2072656c 3d707265 6c6f6164 3b206173 3d737479\
                     6c65046c 696e6b24 3c2f7363 72697074 2e6a733e 3b207265 6c3d7072 656c6f61\
                     643b2061 733d7363 72697074 0040c804 64617465 1d4d6f6e 2c203237 204a756c\
                     20323030 39203132 3a32383a 35332047 4d540673 65727665 72064170 61636865\
                     0d6c6173 742d6d6f 64696669 65641d57 65642c20 3232204a 756c2032 30303920\
                     31393a31 353a3536 20474d54 04657461 67142233 34616133 38372d64 2d313536\
                     38656230 30220d61 63636570 742d7261 6e676573 05627974 65730e63 6f6e7465\
                     6e742d6c 656e6774 68023531 04766172 790f4163 63657074 2d456e63 6f64696e\
                     670c636f 6e74656e 742d7479 70650a74 6578742f 706c6169 6e003348 656c6c6f\
                     20576f72 6c642120 4d792063 6f6e7465 6e742069 6e636c75 64657320 61207472\
                     61696c69 6e672043 524c462e 0d0a0000";
/// Figure 13: known-length encoding of the chunked response of Figure 12.
const FIG13: &str = "0140c800 1d546869 7320636f 6e74656e 7420636f 6e746169 6e732043 524c462e\
                     0d0a0d07 74726169 6c657204 74657874";

fn h(s: &str) -> Vec<u8> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(clean).expect("test constant is hex")
}

fn limits() -> Limits {
    Limits::default()
}

/// The request of RFC 9292 Figure 7.
fn figure7() -> Request {
    Request {
        headers: vec![
            Field::new(
                "user-agent",
                "curl/7.16.3 libcurl/7.16.3 OpenSSL/0.9.7l zlib/1.2.3",
            ),
            Field::new("host", "www.example.com"),
            Field::new("accept-language", "en, mi"),
        ],
        ..Request::new("GET", "https", "", "/hello.txt")
    }
}

/// The response of RFC 9292 Figure 10.
fn figure10() -> Response {
    Response {
        informational: vec![
            Informational {
                status: 102,
                headers: vec![Field::new("running", "\"sleep 15\"")],
            },
            Informational {
                status: 103,
                headers: vec![
                    Field::new("link", "</style.css>; rel=preload; as=style"),
                    Field::new("link", "</script.js>; rel=preload; as=script"),
                ],
            },
        ],
        status: 200,
        headers: vec![
            Field::new("date", "Mon, 27 Jul 2009 12:28:53 GMT"),
            Field::new("server", "Apache"),
            Field::new("last-modified", "Wed, 22 Jul 2009 19:15:56 GMT"),
            Field::new("etag", "\"34aa387-d-1568eb00\""),
            Field::new("accept-ranges", "bytes"),
            Field::new("content-length", "51"),
            Field::new("vary", "Accept-Encoding"),
            Field::new("content-type", "text/plain"),
        ],
        content: b"Hello World! My content includes a trailing CRLF.\r\n".to_vec(),
        trailers: vec![],
    }
}

/// The response of RFC 9292 Figure 12, without its transfer-encoding.
fn figure12() -> Response {
    Response {
        content: b"This content contains CRLF.\r\n".to_vec(),
        trailers: vec![Field::new("trailer", "text")],
        ..Response::new(200)
    }
}

#[test]
fn rfc9292_section5_examples_decode_and_encode_byte_exact() {
    let indeterminate = |padding| Encoding {
        framing: Framing::IndeterminateLength,
        truncate: false,
        padding,
    };
    let mut cases = 0;

    // Figure 8.
    assert_eq!(Request::decode(&h(FIG8), &limits()).unwrap(), figure7());
    assert_eq!(figure7().encode().unwrap(), h(FIG8));
    cases += 1;

    // Figure 9.
    assert_eq!(Request::decode(&h(FIG9), &limits()).unwrap(), figure7());
    assert_eq!(figure7().encode_with(&indeterminate(10)).unwrap(), h(FIG9));
    cases += 1;

    // Figure 11: the informational responses are kept apart from the final one.
    let decoded = Response::decode(&h(FIG11), &limits()).unwrap();
    assert_eq!(decoded, figure10());
    assert_eq!(decoded.status, 200);
    assert_eq!(decoded.content.len(), 51);
    assert_eq!(figure10().encode_with(&indeterminate(0)).unwrap(), h(FIG11));
    cases += 1;

    // Figure 13.
    assert_eq!(Response::decode(&h(FIG13), &limits()).unwrap(), figure12());
    assert_eq!(figure12().encode().unwrap(), h(FIG13));
    cases += 1;

    assert_eq!(cases, 4);
}

#[test]
fn rfc9292_section5_truncation_changes_nothing() {
    // "the last two bytes ... can each be removed without altering the semantics".
    let fig8 = h(FIG8);
    for cut in 1..=2 {
        let req = Request::decode(&fig8[..fig8.len() - cut], &limits()).unwrap();
        assert_eq!(req, figure7(), "cut {cut}");
    }
    let truncated = Encoding {
        truncate: true,
        ..Encoding::default()
    };
    assert_eq!(
        figure7().encode_with(&truncated).unwrap(),
        &fig8[..fig8.len() - 2]
    );
    // "anything up to 12 bytes can be removed from this message".
    let fig9 = h(FIG9);
    for cut in 0..=12 {
        let req = Request::decode(&fig9[..fig9.len() - cut], &limits()).unwrap();
        assert_eq!(req, figure7(), "cut {cut}");
    }
    // ... and not 13: the header section's terminator is then missing.
    assert_eq!(
        Request::decode(&fig9[..fig9.len() - 13], &limits()),
        Err(Error::Truncated("field section"))
    );
}

#[test]
fn varints_of_any_length_are_read() {
    // A two-byte framing indicator (0x4000 = 0) is still a known-length request.
    let mut two_byte = vec![0x40, 0x00];
    two_byte.extend_from_slice(&h(FIG8)[1..]);
    assert_eq!(Request::decode(&two_byte, &limits()).unwrap(), figure7());
    let mut out = Vec::new();
    bhttp::write_varint(&mut out, 15_293).unwrap();
    assert_eq!(out, h("7bbd"));
}

#[test]
fn framing_indicators_must_match_the_message_kind() {
    let fig8 = h(FIG8);
    let fig13 = h(FIG13);
    assert_eq!(
        Response::decode(&fig8, &limits()),
        Err(Error::Framing {
            got: 0,
            expected: "response"
        })
    );
    assert_eq!(
        Request::decode(&fig13, &limits()),
        Err(Error::Framing {
            got: 1,
            expected: "request"
        })
    );
    for bad in [4u8, 5, 0x3f] {
        assert!(matches!(
            Request::decode(&[bad], &limits()),
            Err(Error::Framing { .. })
        ));
    }
    assert_eq!(
        Request::decode(&[], &limits()),
        Err(Error::Truncated("framing indicator"))
    );
}

#[test]
fn truncation_inside_a_part_is_refused() {
    let fig8 = h(FIG8);
    // Every cut that does not fall on a boundary RFC 9292 §3.8 allows is an error.
    let allowed = [fig8.len(), fig8.len() - 1, fig8.len() - 2, 23];
    let mut refused = 0;
    for cut in 0..fig8.len() {
        let r = Request::decode(&fig8[..cut], &limits());
        if allowed.contains(&cut) {
            assert!(r.is_ok(), "cut {cut}");
        } else {
            assert!(matches!(r, Err(Error::Truncated(_))), "cut {cut}: {r:?}");
            refused += 1;
        }
    }
    assert_eq!(refused, fig8.len() - 3);
    // Informational responses cannot end a response: the final one must follow.
    assert_eq!(
        Response::decode(&h("034066"), &limits()),
        Err(Error::Truncated("field section"))
    );
    assert_eq!(
        Response::decode(&h("03406600"), &limits()),
        Err(Error::Truncated("status code"))
    );
}

#[test]
fn padding_must_be_zero() {
    let mut padded = h(FIG13);
    padded.extend_from_slice(&[0; 7]);
    assert_eq!(Response::decode(&padded, &limits()).unwrap(), figure12());
    padded.push(1);
    assert_eq!(Response::decode(&padded, &limits()), Err(Error::Padding));
    let enc = Encoding {
        padding: 64,
        ..Encoding::default()
    };
    let bytes = figure12().encode_with(&enc).unwrap();
    assert_eq!(bytes.len(), h(FIG13).len() + 64);
    assert_eq!(Response::decode(&bytes, &limits()).unwrap(), figure12());
}

/// A known-length request `GET https:///x` with the given header lines, built by hand.
fn raw_request(fields: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut section = Vec::new();
    for (n, v) in fields {
        bhttp::write_varint(&mut section, n.len() as u64).unwrap();
        section.extend_from_slice(n);
        bhttp::write_varint(&mut section, v.len() as u64).unwrap();
        section.extend_from_slice(v);
    }
    let mut out = h("000347455405687474707300022f78");
    bhttp::write_varint(&mut out, section.len() as u64).unwrap();
    out.extend_from_slice(&section);
    out.extend_from_slice(&[0, 0]);
    out
}

#[test]
fn invalid_fields_are_refused() {
    assert!(Request::decode(&raw_request(&[(b"accept", b"*/*")]), &limits()).is_ok());
    let cases: [(&[u8], &[u8], Error); 12] = [
        (b"Accept", b"*/*", Error::Invalid("field name")),
        (b"bad name", b"x", Error::Invalid("field name")),
        (b"caf\xc3\xa9", b"x", Error::Invalid("field name")),
        (b":path", b"/y", Error::ForbiddenField(":path".into())),
        (b"x", b"a\r\nb: c", Error::Invalid("field value")),
        (b"x", b"a\nb", Error::Invalid("field value")),
        (b"x", b"a\0b", Error::Invalid("field value")),
        (b"x", b" a", Error::Invalid("field value")),
        (b"x", b"a\t", Error::Invalid("field value")),
        (
            b"transfer-encoding",
            b"chunked",
            Error::ForbiddenField("transfer-encoding".into()),
        ),
        (b"te", b"gzip", Error::ForbiddenField("te".into())),
        (b"content-length", b"5", Error::ContentLength(0)),
    ];
    let n = cases.len();
    for (name, value, want) in cases {
        let got = Request::decode(&raw_request(&[(name, value)]), &limits());
        assert_eq!(got, Err(want), "{:?}", String::from_utf8_lossy(name));
    }
    assert_eq!(n, 12);
    assert!(Request::decode(&raw_request(&[(b"te", b"trailers")]), &limits()).is_ok());
    assert!(Request::decode(&raw_request(&[(b"x", b"")]), &limits()).is_ok());
    assert!(Request::decode(&raw_request(&[(b"x", b"\x80\xff")]), &limits()).is_ok());
    // A zero-length name inside a known-length section.
    let mut empty_name = h("000347455405687474707300022f78");
    empty_name.extend_from_slice(&[2, 0, 0]);
    assert_eq!(
        Request::decode(&empty_name, &limits()),
        Err(Error::Invalid("field name (empty)"))
    );
}

#[test]
fn invalid_control_data_is_refused() {
    let with_path = |method: &str, scheme: &str, authority: &str, path: &str| {
        let mut out = vec![0u8];
        for part in [method, scheme, authority, path] {
            bhttp::write_varint(&mut out, part.len() as u64).unwrap();
            out.extend_from_slice(part.as_bytes());
        }
        Request::decode(&out, &limits())
    };
    assert!(with_path("GET", "https", "example.com:443", "/a?b=c").is_ok());
    assert!(with_path("OPTIONS", "https", "example.com", "*").is_ok());
    assert!(with_path("CONNECT", "", "example.com:443", "").is_ok());
    assert_eq!(
        with_path("GE T", "https", "", "/"),
        Err(Error::Invalid("method"))
    );
    assert_eq!(
        with_path("", "https", "", "/"),
        Err(Error::Invalid("method"))
    );
    assert_eq!(with_path("GET", "", "", "/"), Err(Error::Invalid("scheme")));
    assert_eq!(
        with_path("GET", "1http", "", "/"),
        Err(Error::Invalid("scheme"))
    );
    assert_eq!(
        with_path("GET", "https", "", ""),
        Err(Error::Invalid("path"))
    );
    assert_eq!(
        with_path("GET", "https", "", "/a b"),
        Err(Error::Invalid("path"))
    );
    assert_eq!(
        with_path("GET", "https", "", "/é"),
        Err(Error::Invalid("path"))
    );
    assert_eq!(
        with_path("GET", "https", "user@host", "/"),
        Err(Error::Invalid("authority"))
    );
    assert!(matches!(
        with_path("CONNECT", "https", "example.com", "/"),
        Err(Error::Invalid(_))
    ));
    // Encoding refuses what decoding refuses.
    assert_eq!(
        Request::new("GET", "https", "", "no-slash").encode(),
        Err(Error::Invalid("path"))
    );
    let mut upper = Request::new("GET", "https", "", "/");
    upper.headers.push(Field::new("Host", "x"));
    assert_eq!(upper.encode(), Err(Error::Invalid("field name")));
}

#[test]
fn status_codes_are_checked() {
    let cases = [
        ("0140c8", true),  // 200
        ("01418b", true),  // 395
        ("014257", true),  // 599
        ("014258", false), // 600
        ("01428f", false), // 655
        ("0140c7", false), // 199: informational, so a field section and a final status follow
        ("01", false),     // missing
        ("0100", false),   // 0
    ];
    for (hex, ok) in cases {
        let r = Response::decode(&h(hex), &limits());
        assert_eq!(r.is_ok(), ok, "{hex}: {r:?}");
    }
    assert_eq!(cases.len(), 8);
    // 101 cannot be expressed in HTTP/2, so not here either.
    assert_eq!(
        Response::decode(&h("0140650040c8"), &limits()),
        Err(Error::Invalid("status code"))
    );
    assert_eq!(
        Response::new(600).encode(),
        Err(Error::Invalid("status code"))
    );
    // A response to HEAD may announce a length without content.
    let mut head = Response::new(200);
    head.headers.push(Field::new("content-length", "1234"));
    assert_eq!(
        Response::decode(&head.encode().unwrap(), &limits()).unwrap(),
        head
    );
}

#[test]
fn limits_bound_every_part() {
    let small = Limits {
        max_message: 1 << 20,
        max_content: 100,
        max_section: 200,
        max_fields: 4,
        max_informational: 1,
    };
    let mut many = Request::new("GET", "https", "", "/");
    many.headers = (0..5).map(|i| Field::new(format!("x-{i}"), "v")).collect();
    for framing in [Framing::KnownLength, Framing::IndeterminateLength] {
        let enc = Encoding {
            framing,
            ..Encoding::default()
        };
        let bytes = many.encode_with(&enc).unwrap();
        assert_eq!(
            Request::decode(&bytes, &small),
            Err(Error::TooMany {
                what: "field lines in a section",
                limit: 4
            })
        );
        assert_eq!(Request::decode(&bytes, &limits()).unwrap(), many);

        let mut long = Request::new("GET", "https", "", "/");
        long.headers.push(Field::new("x", vec![b'a'; 300]));
        let bytes = long.encode_with(&enc).unwrap();
        assert!(matches!(
            Request::decode(&bytes, &small),
            Err(Error::TooLarge { .. })
        ));

        let mut big = Request::new("POST", "https", "", "/");
        big.content = vec![7; 101];
        let bytes = big.encode_with(&enc).unwrap();
        assert_eq!(
            Request::decode(&bytes, &small),
            Err(Error::TooLarge {
                what: "content",
                len: 101,
                limit: 100
            })
        );
    }
    let fig11 = h(FIG11);
    assert_eq!(
        Response::decode(&fig11, &small),
        Err(Error::TooMany {
            what: "informational responses",
            limit: 1
        })
    );
    let tiny = Limits {
        max_message: 10,
        ..limits()
    };
    assert!(matches!(
        Response::decode(&fig11, &tiny),
        Err(Error::TooLarge {
            what: "message",
            ..
        })
    ));
}

#[test]
fn claimed_lengths_never_allocate_beyond_the_input() {
    // Content length 2^62 - 1 in a 20-byte message: refused by the limit, then by the
    // input, before any allocation.
    let mut huge = h("000347455405687474707300012f00");
    huge.extend_from_slice(&h("ffffffffffffffff"));
    assert!(matches!(
        Request::decode(&huge, &limits()),
        Err(Error::TooLarge {
            what: "content",
            ..
        })
    ));
    let unbounded = Limits {
        max_content: usize::MAX,
        max_section: usize::MAX,
        ..limits()
    };
    assert_eq!(
        Request::decode(&huge, &unbounded),
        Err(Error::Truncated("content"))
    );
    let mut section = h("00034745540568747470730001");
    section.extend_from_slice(b"/");
    section.extend_from_slice(&h("bfffffffffffffff"));
    assert_eq!(
        Request::decode(&section, &unbounded),
        Err(Error::Truncated("field section"))
    );
}
