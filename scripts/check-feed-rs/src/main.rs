//! The vendored feed-rs (`vendor/feed-rs`) against feed-rs 2.4.0 as published, on every
//! feed file given: the same `Feed`, field for field, once the published crate's link
//! normalisation is applied to the vendored links (the one change that alters output,
//! vendor/README.md); and with `media(false)`, the same `Feed` but for empty `media`.
//! Exits non-zero on any difference. Run by scripts/check-feed-rs.sh.

fn normalised(href: &str) -> String {
    match url::Url::parse(href) {
        Ok(u) => u.to_string(),
        Err(_) => href.to_string(),
    }
    .trim()
    .to_string()
}

fn main() {
    let (mut same, mut differ) = (0, 0);
    for path in std::env::args().skip(1) {
        let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let published = published::parser::Builder::new()
            .sanitize_content(false)
            .id_generator(|_, _, _| String::new())
            .build()
            .parse(&body[..]);
        let vendored = |media: bool| {
            vendored::parser::Builder::new()
                .sanitize_content(false)
                .id_generator(|_, _, _| String::new())
                .media(media)
                .build()
                .parse_slice(&body)
        };
        let (a, b) = match (published, vendored(true)) {
            (Ok(a), Ok(mut b)) => {
                for l in b.links.iter_mut() {
                    l.href = normalised(&l.href);
                }
                for e in b.entries.iter_mut() {
                    for l in e.links.iter_mut() {
                        l.href = normalised(&l.href);
                    }
                }
                for image in [b.logo.as_mut(), b.icon.as_mut()].into_iter().flatten() {
                    if let Some(l) = image.link.as_mut() {
                        l.href = normalised(&l.href);
                    }
                }
                (format!("{a:?}"), format!("{b:?}"))
            }
            (a, b) => (format!("{:?}", a.map(|_| ())), format!("{:?}", b.map(|_| ()))),
        };
        let media_same = match (vendored(true), vendored(false)) {
            (Ok(mut with), Ok(without)) => {
                with.entries.iter_mut().for_each(|e| e.media.clear());
                format!("{with:?}") == format!("{without:?}")
            }
            (with, without) => with.is_err() && without.is_err(),
        };
        if a == b && media_same {
            same += 1;
        } else {
            differ += 1;
            let at = a.bytes().zip(b.bytes()).position(|(x, y)| x != y).unwrap_or(0);
            println!("DIFFERENT {path} (media alike: {media_same}) at byte {at}");
        }
    }
    println!("{same} feeds alike, {differ} different");
    std::process::exit(i32::from(differ > 0));
}
