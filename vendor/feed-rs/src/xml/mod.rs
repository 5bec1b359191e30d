use core::fmt;
use std::borrow::Cow;
use std::cell::RefCell;
use std::error::Error;
use std::fmt::Debug;
use std::io::{BufRead, BufReader, Read};
use std::mem;

use quick_xml::events::{BytesEnd, BytesStart, Event};
use quick_xml::name::PrefixDeclaration;
use quick_xml::encoding::Decoder;
use quick_xml::Reader;
use url::Url;

#[cfg(test)]
mod tests;

/// Iteration over the XML elements may return an error (malformed content etc)
pub(crate) type XmlResult<T> = Result<T, XmlError>;

/// veille: how quick-xml reads each event from an input. A slice in memory is read in place
/// (each event borrows from it); a stream is copied event by event into a buffer, as
/// feed-rs has always read it. Implemented for the two inputs `Parser` gives this module:
/// `&[u8]` (`Parser::parse_slice`) and `BufReader` (`Parser::parse`).
pub(crate) trait XmlInput: BufRead + Sized {
    /// The next event.
    fn read_event<'b>(reader: &'b mut Reader<Self>, buf: &'b mut Vec<u8>) -> quick_xml::Result<Event<'b>>;
}

impl XmlInput for &[u8] {
    fn read_event<'b>(reader: &'b mut Reader<Self>, _buf: &'b mut Vec<u8>) -> quick_xml::Result<Event<'b>> {
        reader.read_event()
    }
}

impl<R: Read> XmlInput for BufReader<R> {
    fn read_event<'b>(reader: &'b mut Reader<Self>, buf: &'b mut Vec<u8>) -> quick_xml::Result<Event<'b>> {
        buf.clear();
        reader.read_event_into(buf)
    }
}

/// veille: the namespace of each element, as feed-rs needs it (`NS`), from the declarations
/// in scope. quick-xml's `NsReader` read every attribute of every start tag looking for
/// declarations and kept each namespace's name to be decoded and matched again at every
/// element; here a start tag's attributes are read only when it has a declaration, and a
/// declaration keeps its `NS`. The same answers: an unprefixed name takes the default
/// namespace (none if undeclared or declared empty), a prefixed one its prefix's (none if
/// undeclared), and `xml:` / `xmlns:` their reserved namespaces, which feed-rs does not know.
#[derive(Default)]
struct Namespaces {
    depth: u32,
    /// (depth of the declaring element, prefix, namespace); `b""` is the default namespace.
    bindings: Vec<(u32, Box<[u8]>, Option<NS>)>,
}

impl Namespaces {
    /// An element starts: its declarations come into scope. Its namespace.
    fn start(&mut self, e: &BytesStart, decoder: Decoder) -> Option<NS> {
        self.depth += 1;
        if memchr::memmem::find(e.attributes_raw(), b"xmlns").is_some() {
            for a in e.attributes().with_checks(false) {
                let Ok(a) = a else { break };
                let prefix: &[u8] = match a.key.as_namespace_binding() {
                    Some(PrefixDeclaration::Default) => b"",
                    Some(PrefixDeclaration::Named(prefix)) => prefix,
                    None => continue,
                };
                let ns = decoder.decode(&a.value).ok().filter(|uri| !uri.is_empty()).map(|uri| NS::parse(&uri));
                self.bindings.push((self.depth, prefix.into(), ns));
            }
        }
        let prefix = e.name().prefix().map_or(&b""[..], |p| p.into_inner());
        match self.bindings.iter().rev().find(|(_, p, _)| **p == *prefix) {
            Some((_, _, ns)) => *ns,
            None if prefix == b"xml" || prefix == b"xmlns" => Some(NS::Unknown),
            None => None,
        }
    }

    /// An element ends: its declarations go out of scope.
    fn end(&mut self) {
        while self.bindings.last().is_some_and(|(depth, _, _)| *depth == self.depth) {
            self.bindings.pop();
        }
        self.depth = self.depth.saturating_sub(1);
    }
}

/// Produces elements from the provided source
pub(crate) struct ElementSource<R: XmlInput> {
    // Needs to be a RefCell since we can't borrow mutably multiple times (e.g. when calls to Element::children() are nested)
    state: RefCell<SourceState<R>>,
}

impl<R: XmlInput> ElementSource<R> {
    /// Parses the XML stream and emits elements
    ///
    /// # Arguments
    ///
    /// * `xml_data` - the data you wish to parse
    /// * `xml_base_uri` - the base URI if known (e.g. Content-Location, feed URI etc)
    pub(crate) fn new(xml_data: R, xml_base_uri: Option<&str>) -> XmlResult<ElementSource<R>> {
        // Create the XML parser
        let mut reader = Reader::from_reader(xml_data);
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.trim_markup_names_in_closing_tags = true;
        config.trim_text(false);

        let state = RefCell::new(SourceState::new(reader, xml_base_uri)?);
        Ok(ElementSource { state })
    }

    /// Set default namespace if not set explicitly by the document.
    pub(crate) fn set_default_default_namespace(&self, namespace: NS) {
        let mut state = self.state.borrow_mut();
        if state.default_namespace == NS::Unknown {
            state.default_namespace = namespace;
        }
    }

    /// Returns the first element in the source
    pub(crate) fn root(&self) -> XmlResult<Option<Element<'_, R>>> {
        self.next_element_at_depth(1)
    }

    // Return the raw XML of all children at or below the nominated depth
    fn children_as_string(&self, depth: u32, buffer: &mut String) -> XmlResult<()> {
        // Read nodes at the current depth or greater
        let mut state = self.state.borrow_mut();
        let mut current_depth = depth;
        // veille: the names of the elements opened here, for their end tags (end events
        // carry no name).
        let mut open: Vec<Name> = Vec::new();

        loop {
            // A strange construction, but we need to throw an error if we cannot consume all the children (e.g. malformed XML)
            let peeked = state.peek();
            if peeked.is_err() {
                return Err(state.next().err().unwrap());
            }

            // Fetch the next event
            if let Some(event) = peeked.as_ref().unwrap() {
                match event {
                    XmlEvent::Start { name, attributes, .. } => {
                        // Note that we have descended into an element
                        current_depth += 1;

                        // Append element start to the buffer
                        append_element_start(buffer, name, attributes);
                        open.push(name.clone());
                    }

                    XmlEvent::Text(text) => {
                        // Append text to the buffer
                        append_element_text(buffer, text);
                    }

                    XmlEvent::End => {
                        // Break out of the iteration if we would move above our iteration depth
                        current_depth -= 1;
                        if current_depth < depth {
                            break;
                        }

                        // Append this terminating element
                        append_element_end(buffer, &open.pop().unwrap_or_default());
                    }
                }

                // Consume this node
                state.next()?;
            } else {
                // In the case where we have no more nodes, we hit the end of the document so we can just break out of this loop
                break;
            }
        }

        Ok(())
    }

    // Returns the next element at the nominated depth
    fn next_element_at_depth(&self, iter_depth: u32) -> XmlResult<Option<Element<'_, R>>> {
        // Read nodes until we arrive at the correct depth
        let mut state = self.state.borrow_mut();
        while let Some(node) = state.next()? {
            match node {
                // The start of an element may be interesting to the iterator
                XmlEvent::Start { name, attributes, namespace } => {
                    // Starting an element increases our depth
                    state.current_depth += 1;

                    // Update the xml-base if required
                    ElementSource::xml_base_push(&mut state, &attributes)?;

                    // If we are at the correct depth we found a node of interest
                    if state.current_depth == iter_depth {
                        let element = Element {
                            namespace: namespace.unwrap_or(state.default_namespace),
                            name,
                            attributes,
                            xml_base: ElementSource::xml_base_fetch(&state),
                            source: self,
                            depth: state.current_depth,
                        };
                        return Ok(Some(element));
                    }
                }

                // The end of an element moves back up the hierarchy
                XmlEvent::End => {
                    state.current_depth -= 1;

                    // Update the xml-base if required
                    ElementSource::xml_base_pop(&mut state);
                }

                // Not interested in other events when looking for elements
                _ => {}
            }

            // If we have hit the end of children at this level we terminate
            if state.current_depth < iter_depth - 1 {
                return Ok(None);
            }
        }

        // Hit the end of the document
        if state.current_depth > 0 {
            // let msg = format!("documented terminated at depth {}", state.current_depth);
            let e = quick_xml::Error::Syntax(quick_xml::errors::SyntaxError::UnclosedTag);
            Err(XmlError::Parser { e })
        } else {
            Ok(None)
        }
    }

    // Extracts a text element
    fn text_node(&self) -> Option<String> {
        let mut state = self.state.borrow_mut();

        // If the next event is characters, we have found our text
        if let Ok(Some(XmlEvent::Text(_text))) = state.peek() {
            // Grab the next event - we know its a Text event from the above
            match state.next() {
                Ok(Some(XmlEvent::Text(text))) => return Some(text.into_owned()),
                _ => unreachable!("state.next() did not return expected XmlEvent::Text"),
            }
        }

        None
    }

    // Fetches the currently active xml-base
    fn xml_base_fetch(state: &SourceState<R>) -> Option<Url> {
        // Return the last entry on the stack if it exists
        state.base_uris.last().map(|(_, uri)| uri.clone())
    }

    // Pops xml-base entries off the stack as required
    fn xml_base_pop(state: &mut SourceState<R>) {
        // Pop any URIs off the stack if they are deeper than our new depth
        while !state.base_uris.is_empty() {
            let (depth, _) = state.base_uris.last().unwrap();
            if depth > &state.current_depth {
                state.base_uris.pop();
            } else {
                break;
            }
        }
    }

    // Pushes an updated xml-base on to the stack as required
    fn xml_base_push(state: &mut SourceState<R>, attributes: &[NameValue]) -> XmlResult<()> {
        // Find the xml-base attribute
        let xml_base = attributes.iter().find(|nv| nv.name == "xml:base").map(|nv| &nv.value);

        if let Some(xml_base) = xml_base {
            match Url::parse(xml_base) {
                Ok(uri) => {
                    // It is an absolute URI so push it straight on to the stack
                    state.base_uris.push((state.current_depth, uri));
                }
                Err(url::ParseError::RelativeUrlWithoutBase) => {
                    // Try and form a new URL and push it to the stack
                    if let Some((_, last)) = state.base_uris.last() {
                        if let Ok(with_base) = last.join(xml_base) {
                            state.base_uris.push((state.current_depth, with_base));
                        }
                    }
                }
                Err(e) => return Err(XmlError::Url { e }),
            }
        }

        // No xml-base found
        Ok(())
    }
}

// Wraps the XML source and current depth of iteration
struct SourceState<R: XmlInput> {
    reader: Reader<R>,
    // veille: the namespaces in scope where the reader is (`Namespaces`)
    namespaces: Namespaces,
    buf_event: Vec<u8>,
    next: XmlResult<Option<XmlEvent>>,
    // An event stashed while coalescing text (e.g. the start tag terminating a run of text and entity references)
    pending_text: Option<XmlEvent>,
    current_depth: u32,
    base_uris: Vec<(u32, Url)>,
    default_namespace: NS,
}

impl<R: XmlInput> SourceState<R> {
    // Wrap the reader in additional state (buffers, tree depth etc)
    fn new(reader: Reader<R>, xml_base_uri: Option<&str>) -> XmlResult<SourceState<R>> {
        // If we have a base URI, parse it and init at the root
        let mut base_uris = Vec::new();
        if let Some(xml_base_uri) = xml_base_uri {
            let uri = Url::parse(xml_base_uri)?;
            base_uris.push((0, uri));
        }

        let buf_event = Vec::with_capacity(512);
        let mut state = SourceState {
            reader,
            namespaces: Namespaces::default(),
            buf_event,
            next: Ok(None),
            pending_text: None,
            current_depth: 0,
            base_uris,
            default_namespace: NS::Unknown,
        };
        state.next = state.fetch_next();
        Ok(state)
    }

    // Returns the next event
    fn fetch_next(&mut self) -> XmlResult<Option<XmlEvent>> {
        // Emit an event stashed while coalescing text
        if let Some(event) = self.pending_text.take() {
            return Ok(Some(event));
        }

        // Text, CData and entity references are coalesced into a single text event
        // veille: a `Cow`, so that the whitespace between elements needs no allocation
        // (`static_whitespace`).
        let mut text: Option<Cow<'static, str>> = None;

        loop {
            // veille: the decoder is taken before each event (it changes once the XML
            // declaration has been read), and the event is read through `XmlInput`, so
            // that a slice is read in place (its events borrow the reader).
            let decoder = self.reader.decoder();
            let event = R::read_event(&mut self.reader, &mut self.buf_event)?;

            match event {
                // Start of an element
                Event::Start(ref e) => {
                    // Parse the namespace
                    // The default namespace is applied when the event is consumed, since it may not be known yet
                    // (e.g. the root element is examined to determine the feed type, which in turn sets the default namespace)
                    let namespace = self.namespaces.start(e, decoder);

                    let start = XmlEvent::start(namespace, e, decoder);
                    return match text.take() {
                        Some(text) => {
                            self.pending_text = Some(start);
                            Ok(Some(XmlEvent::Text(text)))
                        }
                        None => Ok(Some(start)),
                    };
                }

                // End of an element
                Event::End(ref e) => {
                    self.namespaces.end();
                    let end = XmlEvent::end(e);
                    return match text.take() {
                        Some(text) => {
                            self.pending_text = Some(end);
                            Ok(Some(XmlEvent::Text(text)))
                        }
                        None => Ok(Some(end)),
                    };
                }

                // Text
                Event::Text(ref t) => {
                    if !t.is_empty() {
                        let decoded = decoder.decode(t)?;
                        match text.as_mut() {
                            Some(text) => text.to_mut().push_str(&decoded),
                            None => text = Some(static_whitespace(&decoded).map_or_else(|| Cow::Owned(decoded.into_owned()), Cow::Borrowed)),
                        }
                    }
                }

                // CData is converted to text
                Event::CData(ref t) => {
                    if !t.is_empty() {
                        let decoded = decoder.decode(t)?;
                        text.get_or_insert_with(Cow::default).to_mut().push_str(&decoded);
                    }
                }

                // Character and entity references (e.g. "&#38;" or "&amp;") are resolved into text
                Event::GeneralRef(ref r) => {
                    let buffer = text.get_or_insert_with(Cow::default).to_mut();
                    if let Some(ch) = r.resolve_char_ref()? {
                        buffer.push(ch);
                    } else {
                        let name = decoder.decode(r)?;
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(resolved) => buffer.push_str(resolved),
                            // Unknown entities cannot be resolved, so retain them in their escaped form
                            None => {
                                buffer.push('&');
                                buffer.push_str(&name);
                                buffer.push(';');
                            }
                        }
                    }
                }

                // The end of the document
                Event::Eof => {
                    return Ok(text.take().map(XmlEvent::Text));
                }

                // Ignore everything else
                _ => {}
            }
        }
    }

    // Returns the next interesting event or None if no more events are found
    fn next(&mut self) -> XmlResult<Option<XmlEvent>> {
        let next = mem::replace(&mut self.next, Ok(None));
        self.next = self.fetch_next();
        next
    }

    // Peeks the next event (does not advance)
    // Callers should call next() to consume the event to move on
    fn peek(&mut self) -> &XmlResult<Option<XmlEvent>> {
        &self.next
    }
}

/// An element (specifically, XML element start tag)
pub(crate) struct Element<'a, R: XmlInput> {
    /// Qualified name of the element.
    pub name: Name,

    /// The namespace mapping at this point of the document.
    pub namespace: NS,

    /// A list of attributes associated with the element.
    pub attributes: Vec<NameValue>,

    /// The base URL for this element per the xml:base specification (https://www.w3.org/TR/xmlbase/)
    pub xml_base: Option<Url>,

    // Depth of this element
    depth: u32,

    // The underlying source of XML events
    source: &'a ElementSource<R>,
}

// TODO this is flagged as needless, but is required in Element... fix this
#[allow(clippy::needless_lifetimes)]
impl<'a, R: XmlInput> Element<'a, R> {
    /// Returns the value for an attribute if it exists
    pub(crate) fn attr_value(&self, name: &str) -> Option<String> {
        self.attributes.iter().find(|a| a.name == name).map(|a| a.value.clone())
    }

    /// If the first child of the current node is XML characters, then it is returned as a `String` otherwise `None`.
    pub(crate) fn child_as_text(&self) -> Option<String> {
        self.source.text_node()
    }

    /// Returns an iterator over children of this element (i.e. descends a level in the hierarchy)
    pub(crate) fn children(&self) -> ElementIter<'_, R> {
        ElementIter {
            source: self.source,
            depth: self.depth + 1,
        }
    }

    /// Concatenates the children of this node into a string
    ///
    /// NOTE: the input stream is parsed then re-serialised so the output will not be identical to the input
    pub(crate) fn children_as_string(&self) -> XmlResult<Option<String>> {
        // Fill the buffer with the XML content below this element
        let mut buffer = String::new();
        self.source.children_as_string(self.depth + 1, &mut buffer)?;

        Ok(Some(buffer))
    }

    /// Returns the namespace + tag name for this element
    pub(crate) fn ns_and_tag(&self) -> (NS, &str) {
        (self.namespace, &self.name)
    }
}

// TODO this is flagged as needless, but is required in Element... fix this
#[allow(clippy::needless_lifetimes)]
impl<'a, R: XmlInput> Debug for Element<'a, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buffer = String::new();
        append_element_start(&mut buffer, &self.name, &self.attributes);
        writeln!(f, "{}", buffer)
    }
}

/// Iterator over elements at a specific depth in the hierarchy
pub(crate) struct ElementIter<'a, R: XmlInput> {
    source: &'a ElementSource<R>,
    depth: u32,
}

impl<'a, R: XmlInput> Iterator for ElementIter<'a, R> {
    type Item = XmlResult<Element<'a, R>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.source.next_element_at_depth(self.depth).transpose()
    }
}

/// Set of automatically recognised namespaces
#[derive(Copy, Clone, Debug, PartialEq)]
pub(crate) enum NS {
    Atom,
    RSS,
    // Namespaces we do not support are treated as this special case, to avoid processing content incorrectly
    Unknown,
    // Extensions
    Content,
    DublinCore,
    MediaRSS,
    Itunes,
}

impl NS {
    fn parse(s: &str) -> NS {
        match s {
            "http://purl.org/rss/1.0/" => NS::RSS,
            "http://www.w3.org/2005/Atom" => NS::Atom,

            // Extension namespaces
            "http://purl.org/rss/1.0/modules/content/" => NS::Content,
            "http://purl.org/dc/elements/1.1/" => NS::DublinCore,
            "http://search.yahoo.com/mrss/" => NS::MediaRSS,
            "http://www.itunes.com/dtds/podcast-1.0.dtd" => NS::Itunes,

            // Everything else is ignored
            _ => NS::Unknown,
        }
    }
}

/// veille: `text` as a static string if it is whitespace as feeds indent their elements
/// (a line break, then spaces or tabs), which is half the text events of a feed and is
/// then read by nothing: no allocation for it.
fn static_whitespace(text: &str) -> Option<&'static str> {
    const INDENTS: [&str; 4] = [
        "\n                                                                ",
        "\n\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
        "\r\n                                                                ",
        "\r\n\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t\t",
    ];
    INDENTS.iter().find_map(|indent| indent.get(..text.len()).filter(|prefix| *prefix == text))
}

/// veille: the name of an element or attribute. A name feed-rs reads (and a few other
/// common ones) is a static string, so that reading an element allocates nothing for
/// its name; any other name is allocated, as feed-rs always did.
pub(crate) type Name = Cow<'static, str>;

trait NameOf {
    fn of(name: &str) -> Name;
}

macro_rules! known_names {
    ($($name:literal),* $(,)?) => {
        impl NameOf for Name {
            fn of(name: &str) -> Name {
                match name {
                    $($name => Cow::Borrowed($name),)*
                    _ => Cow::Owned(name.to_string()),
                }
            }
        }
    };
}

known_names!(
    // elements
    "rss", "channel", "item", "title", "link", "description", "pubDate", "guid", "category", "author",
    "comments", "enclosure", "source", "language", "copyright", "managingEditor", "webMaster",
    "lastBuildDate", "generator", "docs", "ttl", "image", "url", "width", "height", "feed", "entry",
    "id", "updated", "published", "summary", "content", "rights", "subtitle", "contributor", "name",
    "email", "uri", "icon", "logo", "encoded", "creator", "date", "subject", "RDF", "items", "Seq",
    "li", "group", "thumbnail", "player", "credit", "rating", "community", "statistics", "starRating",
    "duration", "explicit", "owner", "text", "p", "a", "img", "br", "div", "b", "span",
    // attributes
    "href", "type", "rel", "src", "length", "version", "isPermaLink", "xml:base", "xml:lang", "term",
    "scheme", "label", "hreflang", "domain", "medium", "fileSize", "about", "resource", "xmlns",
);

/// Combination of a name and value (e.g. attribute name + value)
pub(crate) struct NameValue {
    pub name: Name,
    pub value: String,
}

/// Errors for the underlying parser
#[derive(Debug)]
pub enum XmlError {
    Parser { e: quick_xml::Error },
    Url { e: url::ParseError },
    Encoding { e: quick_xml::encoding::EncodingError },
    Escape { e: quick_xml::escape::EscapeError },
}

impl fmt::Display for XmlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            XmlError::Parser { e } => write!(f, "Parser error: {}", e),
            XmlError::Url { e } => write!(f, "Url error: {}", e),
            XmlError::Encoding { e } => write!(f, "Encoding error: {}", e),
            XmlError::Escape { e } => write!(f, "Escape error: {}", e),
        }
    }
}

impl Error for XmlError {}

impl From<quick_xml::Error> for XmlError {
    fn from(e: quick_xml::Error) -> Self {
        XmlError::Parser { e }
    }
}

impl From<url::ParseError> for XmlError {
    fn from(e: url::ParseError) -> Self {
        XmlError::Url { e }
    }
}

impl From<quick_xml::encoding::EncodingError> for XmlError {
    fn from(e: quick_xml::encoding::EncodingError) -> Self {
        XmlError::Encoding { e }
    }
}

impl From<quick_xml::escape::EscapeError> for XmlError {
    fn from(e: quick_xml::escape::EscapeError) -> Self {
        XmlError::Escape { e }
    }
}

// Abstraction over the underlying XML reader event model
enum XmlEvent {
    // An XML start tag
    // The namespace is `None` when the document does not declare one; the source's default namespace is applied on consumption
    Start {
        namespace: Option<NS>,
        name: Name,
        attributes: Vec<NameValue>,
    },
    // An XML end tag
    End,
    // Text or CData
    Text(Cow<'static, str>),
}

impl XmlEvent {
    // Creates a new event corresponding to an XML end-tag
    // veille: an end event carries no name (one allocation per closing tag, read only by
    // `children_as_string`, which now keeps the names of the elements it opened).
    fn end(_event: &BytesEnd) -> XmlEvent {
        XmlEvent::End
    }

    // Extracts the element name, dropping the namespace prefix if present
    // veille: given the decoder, not the reader (a slice's events borrow the reader).
    fn parse_name(bytes: &[u8], decoder: Decoder) -> Name {
        decoder.decode(bytes)
            .ok()
            .and_then(|name| name.split(':').next_back().map(Name::of))
            .unwrap_or_default()
    }

    // Creates a new event corresponding to an XML start-tag
    fn start(namespace: Option<NS>, event: &BytesStart, decoder: Decoder) -> XmlEvent {
        // Parse the name
        let name = XmlEvent::parse_name(event.name().as_ref(), decoder);

        // Parse the attributes
        let attributes = event
            .attributes()
            .filter_map(|a| {
                if let Ok(a) = a {
                    let name = match decoder.decode(a.key.as_ref()) {
                        Ok(decoded) => decoded,
                        Err(_) => return None,
                    };

                    // Unescape the XML attribute, or use the original value if this fails (broken escape sequence etc)
                    let decoded_value = match decoder.decode(&a.value) {
                        Ok(decoded) => decoded,
                        Err(_) => return None,
                    };
                    let value = quick_xml::escape::unescape(&decoded_value)
                        .unwrap_or_else(|_| decoded_value.clone())
                        .to_string();

                    Some(NameValue { name: Name::of(&name), value })
                } else {
                    None
                }
            })
            .collect::<Vec<NameValue>>();

        XmlEvent::Start { namespace, name, attributes }
    }
}

// Appends an element-end to the buffer
// TODO find example XML that has namespaces and use a separate function to serialise the name
fn append_element_end(buffer: &mut String, name: &str) {
    buffer.push_str("</");
    buffer.push_str(name);
    buffer.push('>');
}

// Appends an element-start to the buffer
fn append_element_start(buffer: &mut String, name: &str, attributes: &[NameValue]) {
    buffer.push('<');
    buffer.push_str(name);
    for attr in attributes {
        buffer.push(' ');
        buffer.push_str(&attr.name);
        buffer.push_str("=\"");
        buffer.push_str(attr.value.as_str());
        buffer.push('"');
    }
    buffer.push('>');
}

// Appends a text element
fn append_element_text(buffer: &mut String, text: &str) {
    buffer.push_str(text);
}
