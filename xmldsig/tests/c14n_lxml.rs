//! Differential test of the canonicaliser against libxml2 (through Python lxml) over generated documents: random
//! prefixes, redeclarations, default namespace changes, `xmlns=""`, namespaced attributes, special characters,
//! CDATA, comments and PIs, and nested subtrees selected by `Id`. One Python process answers every document.
//!
//! Known lxml deviations kept out of the comparison (our behaviour follows the specs and is covered by the vectors
//! in `src/c14n_tests.rs`): lxml drops `#default` from a PrefixList, and its subtree c14n does not inherit the
//! `xml:*` attributes of ancestors in inclusive mode. So PrefixLists here hold real prefixes only, and inclusive
//! subtrees are compared only in documents without `xml:*` attributes. Its element-level c14n also renders a
//! spurious `xmlns=""` when the document has PIs or comments before the root element (e.g. `<?p?><a:e xmlns="u"
//! xmlns:a="v"><e><B/></e></a:e>` gives `<B xmlns="">` although B is in namespace u), so for subtrees the oracle
//! gets the root element alone, which by the spec does not change a subtree's canonical form; we canonicalise the
//! full document.

mod peers;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use xmldsig::c14n::{canonicalize_to_vec, C14nMode, NodeSet};
use xmldsig::dom::{Document, NodeId};

const DOCUMENTS: usize = 2000;

const ORACLE: &str = r#"
import sys, binascii
from lxml import etree
parser = etree.XMLParser(resolve_entities=False, no_network=True)
def strip(el):
    # Remove el but keep its tail text, as the enveloped-signature transform does.
    parent = el.getparent()
    if el.tail:
        prev = el.getprevious()
        if prev is not None:
            prev.tail = (prev.tail or "") + el.tail
        else:
            parent.text = (parent.text or "") + el.tail
    parent.remove(el)
for line in sys.stdin:
    mode, target, excluded, prefixes, data = line.rstrip("\n").split("\t")
    try:
        root = etree.fromstring(binascii.unhexlify(data), parser)
        if excluded:
            strip(root.xpath("//*[@Id=$v]", v=excluded)[0])
        node = root.getroottree() if not target else root.xpath("//*[@Id=$v]", v=target)[0]
        pl = [p for p in prefixes.split(",") if p]
        out = etree.tostring(node, method="c14n", exclusive=(mode == "exc"), with_comments=False,
                             inclusive_ns_prefixes=pl or None)
        sys.stdout.write("OK " + binascii.hexlify(out).decode() + "\n")
    except Exception as e:
        sys.stdout.write("ERR " + repr(e).replace("\n", " ") + "\n")
    sys.stdout.flush()
"#;

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PREFIXES: &[&str] = &["a", "b", "c", "ns1", "wsu"];
const URIS: &[&str] = &[
    "urn:x",
    "urn:y",
    "http://example.org/z",
    "urn:a%20b",
    "http://www.w3.org/2000/09/xmldsig#",
];
const NAMES: &[&str] = &["e", "Body", "Header", "x1", "item"];
const TEXTS: &[&str] = &[
    "plain",
    " &amp; ",
    "&lt;tag&gt;",
    "\"q\" 'a'",
    "&#13;",
    "line\nbreak",
    "\t tab",
    "åäö € 𝄞",
    "]]&gt;",
    "&#x7F;",
];
const ATTR_VALUES: &[&str] = &[
    "v",
    "a&amp;b",
    "&lt;",
    "&quot;x&quot;",
    "'",
    "&#9;&#10;&#13;",
    "t\tn\nx",
    "€",
    "",
];

struct Generated {
    xml: String,
    /// Just the root element, without the XML declaration and the top-level PIs and comments.
    root_only: String,
    ids: Vec<String>,
    has_xml_attributes: bool,
}

struct Generator<'r> {
    rng: &'r mut Rng,
    out: String,
    ids: Vec<String>,
    has_xml_attributes: bool,
    used_prefixes: Vec<String>,
}

impl Generator<'_> {
    fn element(&mut self, depth: usize, scope: &[(String, String)]) {
        let mut scope = scope.to_vec();
        let mut decls = String::new();
        if self.rng.chance(25) {
            let uri = if self.rng.chance(30) { "" } else { self.rng.pick(URIS) };
            decls.push_str(&format!(" xmlns=\"{uri}\""));
            scope.push((String::new(), uri.to_string()));
        }
        let mut declared: Vec<&str> = Vec::new();
        for _ in 0..self.rng.below(3) {
            let p = self.rng.pick(PREFIXES);
            if declared.contains(&p) {
                continue;
            }
            declared.push(p);
            let uri = self.rng.pick(URIS);
            decls.push_str(&format!(" xmlns:{p}=\"{uri}\""));
            scope.push((p.to_string(), uri.to_string()));
            if !self.used_prefixes.iter().any(|u| u == p) {
                self.used_prefixes.push(p.to_string());
            }
        }
        let bound: Vec<(String, String)> = {
            let mut b: Vec<(String, String)> = Vec::new();
            for (p, u) in scope.iter().rev() {
                if !p.is_empty() && !b.iter().any(|(q, _)| q == p) {
                    b.push((p.clone(), u.clone()));
                }
            }
            b
        };
        let local = self.rng.pick(NAMES);
        let qname = if !bound.is_empty() && self.rng.chance(50) {
            let (p, _) = &bound[self.rng.below(bound.len())];
            format!("{p}:{local}")
        } else {
            local.to_string()
        };
        let mut attrs = String::new();
        let mut attr_keys: Vec<(String, String)> = Vec::new();
        if self.rng.chance(60) {
            let id = format!("t{}", self.ids.len());
            attrs.push_str(&format!(" Id=\"{id}\""));
            attr_keys.push((String::new(), "Id".into()));
            self.ids.push(id);
        }
        for _ in 0..self.rng.below(4) {
            let local = self.rng.pick(&["x", "y", "Id2", "lang"]);
            let (qname, ns) = match self.rng.below(5) {
                0 if !bound.is_empty() => {
                    let (p, u) = &bound[self.rng.below(bound.len())];
                    (format!("{p}:{local}"), u.clone())
                }
                1 => {
                    self.has_xml_attributes = true;
                    let l = self.rng.pick(&["lang", "space", "base"]);
                    (format!("xml:{l}"), "xml".to_string())
                }
                _ => (local.to_string(), String::new()),
            };
            let key_local = qname.rsplit(':').next().unwrap().to_string();
            if attr_keys.iter().any(|(n, l)| *n == ns && *l == key_local) {
                continue;
            }
            attr_keys.push((ns, key_local));
            let value = self.rng.pick(ATTR_VALUES);
            attrs.push_str(&format!(" {qname}=\"{value}\""));
        }
        self.out.push_str(&format!("<{qname}{decls}{attrs}"));
        if depth >= 4 || self.rng.chance(20) {
            self.out.push_str("/>");
            return;
        }
        self.out.push('>');
        for _ in 0..self.rng.below(4) {
            match self.rng.below(10) {
                0..=4 => self.element(depth + 1, &scope),
                5 | 6 => self.out.push_str(self.rng.pick(TEXTS)),
                7 => self
                    .out
                    .push_str(&format!("<![CDATA[{}]]>", self.rng.pick(&["<x>&", "a]b", "\r\n"]))),
                8 => self.out.push_str("<!-- c -->"),
                _ => self.out.push_str(&format!(
                    "<?pi{} {}?>",
                    self.rng.below(3),
                    self.rng.pick(&["", "d", "x y"])
                )),
            }
        }
        self.out.push_str(&format!("</{qname}>"));
    }
}

fn generate(rng: &mut Rng) -> (Generated, Vec<String>) {
    let mut g = Generator {
        rng,
        out: String::new(),
        ids: Vec::new(),
        has_xml_attributes: false,
        used_prefixes: vec![],
    };
    if g.rng.chance(30) {
        g.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    if g.rng.chance(30) {
        g.out.push_str("<?top before?>\n<!-- top -->\n");
    }
    let root_start = g.out.len();
    g.element(0, &[]);
    let root_only = g.out[root_start..].to_string();
    if g.rng.chance(30) {
        g.out.push_str("\n<!-- after --><?top after?>");
    }
    let prefixes = g.used_prefixes.clone();
    (
        Generated {
            xml: g.out,
            root_only,
            ids: g.ids,
            has_xml_attributes: g.has_xml_attributes,
        },
        prefixes,
    )
}

struct Case {
    xml: String,
    /// What the oracle is given: for subtrees, the root element alone (see the module doc).
    oracle_xml: String,
    exclusive: bool,
    target: Option<String>,
    excluded: Option<String>,
    prefixes: Vec<String>,
}

fn find_id(doc: &Document, id: &str) -> NodeId {
    doc.all_nodes()
        .find(|n| doc.attribute(*n, None, "Id") == Some(id))
        .expect("generated Id is present")
}

fn ours(case: &Case) -> Vec<u8> {
    let doc = Document::parse_str(&case.xml).unwrap_or_else(|e| panic!("our DOM refused {:?}: {e}", case.xml));
    let mut set = match &case.target {
        Some(id) => NodeSet::subtree(find_id(&doc, id)),
        None => NodeSet::document(&doc),
    };
    if let Some(ex) = &case.excluded {
        set = set.without(find_id(&doc, ex));
    }
    let mode = if case.exclusive {
        C14nMode::Exclusive {
            inclusive_prefixes: case.prefixes.clone(),
        }
    } else {
        C14nMode::Inclusive
    };
    canonicalize_to_vec(&doc, &set, &mode)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn build_cases() -> Vec<Case> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::new();
    while cases.len() < DOCUMENTS {
        let (g, used) = generate(&mut rng);
        let exclusive = rng.chance(70);
        let target = if !g.ids.is_empty() && rng.chance(75) {
            Some(g.ids[rng.below(g.ids.len())].clone())
        } else {
            None
        };
        if !exclusive && target.is_some() && g.has_xml_attributes {
            // lxml does not inherit xml:* attributes into an inclusive subtree (see the module doc).
            continue;
        }
        // Exclude an element that is a proper descendant of the apex: lxml cannot express removing the apex.
        let doc = Document::parse_str(&g.xml).expect("generated documents are well-formed");
        let apex = target.as_ref().map_or(doc.root(), |t| find_id(&doc, t));
        let below: Vec<&String> = g
            .ids
            .iter()
            .filter(|id| {
                let n = find_id(&doc, id);
                n != apex && doc.is_ancestor_or_self(apex, n)
            })
            .collect();
        let excluded = if !below.is_empty() && rng.chance(60) {
            Some(below[rng.below(below.len())].clone())
        } else {
            None
        };
        let mut prefixes = Vec::new();
        if exclusive {
            for p in used {
                if rng.chance(30) {
                    prefixes.push(p);
                }
            }
        }
        let oracle_xml = if target.is_some() { g.root_only } else { g.xml.clone() };
        cases.push(Case {
            oracle_xml,
            xml: g.xml,
            exclusive,
            target,
            excluded,
            prefixes,
        });
    }
    cases
}

#[test]
fn canonical_form_matches_libxml2_over_generated_documents() {
    let child = Command::new("python3")
        .args(["-c", ORACLE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            return peers::skip(&format!(
                "python3 not runnable ({e}); c14n differential test against lxml"
            ))
        }
    };
    let cases = build_cases();
    let requests: String = cases
        .iter()
        .map(|c| {
            format!(
                "{}\t{}\t{}\t{}\t{}\n",
                if c.exclusive { "exc" } else { "inc" },
                c.target.as_deref().unwrap_or(""),
                c.excluded.as_deref().unwrap_or(""),
                c.prefixes.join(","),
                hex(c.oracle_xml.as_bytes())
            )
        })
        .collect();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(requests.as_bytes());
    });
    let answers: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .collect();
    writer.join().unwrap();
    let status = child.wait().unwrap();
    if answers.is_empty() {
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        if err.contains("No module named 'lxml'") {
            return peers::skip("Python lxml (pip install lxml==6.1.3); c14n differential test");
        }
        panic!("lxml oracle failed ({status}): {err}");
    }
    assert_eq!(answers.len(), cases.len(), "the oracle answered every document");
    let mut compared = 0;
    let mut failures = Vec::new();
    for (case, answer) in cases.iter().zip(&answers) {
        let theirs = match answer.strip_prefix("OK ") {
            Some(h) => unhex(h),
            None => panic!("lxml could not canonicalise {:?}: {answer}", case.xml),
        };
        let mine = ours(case);
        compared += 1;
        if mine != theirs {
            failures.push(format!(
                "mode={} target={:?} excluded={:?} prefixes={:?}\n  input: {}\n  lxml:  {}\n  ours:  {}",
                if case.exclusive { "exc" } else { "inc" },
                case.target,
                case.excluded,
                case.prefixes,
                case.xml,
                String::from_utf8_lossy(&theirs),
                String::from_utf8_lossy(&mine)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} differ:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    assert_eq!(compared, DOCUMENTS);
    let count = |f: &dyn Fn(&Case) -> bool| cases.iter().filter(|c| f(c)).count();
    eprintln!(
        "compared {compared} documents with lxml: {} exclusive ({} with a PrefixList), {} subtrees, {} minus an excluded subtree, {} with xmlns=\"\"",
        count(&|c| c.exclusive),
        count(&|c| !c.prefixes.is_empty()),
        count(&|c| c.target.is_some()),
        count(&|c| c.excluded.is_some()),
        count(&|c| c.xml.contains("xmlns=\"\"")),
    );
}
