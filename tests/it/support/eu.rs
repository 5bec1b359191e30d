//! The EU services on a loopback server: the real captures of the EP API, OEIL and
//! CELLAR served where veille's sources ask for them.

use veille::model::ProcedureRef;
use veille::sources::{cellar, cellar_work, ep_api, oeil};

use super::app::Source;
use super::fixtures;
use super::http::{Response, TestServer};

/// The path of one of `server`'s URLs.
pub fn path_of(server: &TestServer, url: &str) -> String {
    url.strip_prefix(&server.url("")).unwrap_or(url).to_string()
}

fn proc(s: &str) -> ProcedureRef {
    s.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// Serve the EP API, OEIL and CELLAR captures on `server`, as the services answer them:
/// the procedures 2016/0132, 2025/0260 (EP API), 2024/0258 (OEIL) and 2018/0172 (CELLAR,
/// with its proposal's and directive's notices); the EP API's change feed is empty. The
/// sources that read them.
pub fn serve_captures(server: &TestServer) -> Vec<Source> {
    let api = server.url("/api/v2");
    for (r, file) in [
        (
            "2016/0132(COD)",
            "ep-api/procedure_2016-0132_COD.jsonld.json",
        ),
        (
            "2025/0260(COD)",
            "ep-api/procedure_2025-0260_COD.jsonld.json",
        ),
    ] {
        let url = ep_api::procedure_url(&api, &proc(r));
        server.route(
            &path_of(server, &url),
            Response::ok(fixtures::read(file)).content_type("application/ld+json"),
        );
    }
    for url in [true, false]
        .into_iter()
        .flat_map(|first| ep_api::feed_urls(&api, first))
    {
        server.route(&path_of(server, &url), Response::status(204));
    }
    let base = server.url("");
    let base = base.trim_end_matches('/');
    let url = oeil::procedure_url(base, &proc("2024/0258(COD)"));
    server.route(
        &path_of(server, &url),
        Response::ok(fixtures::read(
            "oeil/2024-0258-COD_new-design-es_page-available-2025-11-13.html",
        ))
        .content_type("text/html; charset=utf-8"),
    );
    let url = cellar::procedure_url(base, &proc("2018/0172(COD)"));
    server.route(
        &path_of(server, &url),
        Response::ok(fixtures::read(
            "eurlex-cellar-notice/procedure_2018_172_COD_tree-notice_single-use-plastics.xml",
        ))
        .content_type("application/xml"),
    );
    // The proposal's notice is a capture; the directive's is veille's own stand-in.
    for (celex, body) in [
        (
            "52018PC0340",
            fixtures::read(
                "eurlex-cellar-notice/celex_52018PC0340_branch-notice_COM-2018-340-proposal.xml",
            ),
        ),
        (
            "32019L0904",
            fixtures::own("cellar/celex_32019L0904_branch-notice.xml"),
        ),
    ] {
        let url = cellar_work::url(base, &celex.parse().unwrap_or_else(|e| panic!("{e}")));
        server.route(
            &path_of(server, &url),
            Response::ok(body).content_type("application/xml"),
        );
    }
    vec![
        Source::new("ep-api", "ep-api", api),
        Source::new("oeil", "oeil", base.to_string()),
        Source::new("cellar", "cellar", base.to_string()),
    ]
}
