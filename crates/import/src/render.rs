//! The topology file the importer writes: a serialisable mirror of the keys of
//! `docs/config.md` it sets (only those), rendered as TOML under a comment block that says
//! what was mapped and what edgelab does not emulate.

use serde::Serialize;

use crate::origin_request::ForwardPolicy;
use crate::policy::{KeyPolicy, KeySelection};

/// The topology file.
#[derive(Debug, Clone, Serialize)]
pub struct TopologyFile {
    /// `name`.
    pub name: String,
    /// `pops`.
    pub pops: Vec<String>,
    /// `[origin]`.
    pub origin: OriginSection,
    /// `[shield]`.
    pub shield: ShieldSection,
    /// `[edge]`.
    pub edge: EdgeSection,
}

/// `[origin]`.
#[derive(Debug, Clone, Serialize)]
pub struct OriginSection {
    /// `origin.name`.
    pub name: String,
    /// `origin.region`.
    pub region: String,
}

/// `[shield]`.
#[derive(Debug, Clone, Serialize)]
pub struct ShieldSection {
    /// `shield.enabled`.
    pub enabled: bool,
    /// `shield.rec`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rec: Option<String>,
}

/// `[edge]`.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeSection {
    /// `edge.default_root_object`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_root_object: Option<String>,
    /// `edge.failover_status_codes`.
    pub failover_status_codes: Vec<u16>,
    /// `edge.connection_attempts`.
    pub connection_attempts: u32,
    /// `edge.connection_timeout`.
    pub connection_timeout: String,
    /// `edge.response_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_timeout: Option<String>,
    /// `[[edge.custom_error_responses]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub custom_error_responses: Vec<CustomErrorSection>,
    /// `[[edge.behaviors]]`.
    pub behaviors: Vec<BehaviorSection>,
    /// `[edge.default_behavior]`.
    pub default_behavior: BehaviorSection,
}

/// One `[[edge.custom_error_responses]]` entry.
#[derive(Debug, Clone, Serialize)]
pub struct CustomErrorSection {
    /// `error_code`.
    pub error_code: u16,
    /// `error_caching_min_ttl`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_caching_min_ttl: Option<String>,
    /// `response_page_path`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_page_path: Option<String>,
    /// `response_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_code: Option<u16>,
}

/// One behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct BehaviorSection {
    /// `path_pattern` (ordered behaviours).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_pattern: Option<String>,
    /// `cache_policy`.
    pub cache_policy: CachePolicySection,
    /// `origin_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin_request: Option<OriginRequestSection>,
}

/// `cache_policy` of a behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct CachePolicySection {
    /// `preset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// `min_ttl`.
    pub min_ttl: String,
    /// `default_ttl`.
    pub default_ttl: String,
    /// `max_ttl`.
    pub max_ttl: String,
    /// `query_strings`.
    pub query_strings: Selection,
    /// `headers`.
    pub headers: Selection,
    /// `cookies`.
    pub cookies: Selection,
    /// `compress`.
    pub compress: bool,
}

/// `origin_request` of a behaviour.
#[derive(Debug, Clone, Serialize)]
pub struct OriginRequestSection {
    /// `managed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<String>,
    /// `query_strings`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_strings: Option<Selection>,
    /// `headers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Selection>,
    /// `cookies`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookies: Option<Selection>,
}

impl OriginRequestSection {
    /// The section of `policy`.
    pub fn new(policy: &ForwardPolicy) -> Self {
        OriginRequestSection {
            managed: policy.managed.map(str::to_string),
            query_strings: policy.query_strings.as_ref().map(Selection::from),
            headers: policy.headers.as_ref().map(Selection::from),
            cookies: policy.cookies.as_ref().map(Selection::from),
        }
    }
}

/// `"none"`, `"all"` or a list of names.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Selection {
    /// `"none"` or `"all"`.
    Word(&'static str),
    /// The names.
    List(Vec<String>),
}

impl From<&KeySelection> for Selection {
    fn from(selection: &KeySelection) -> Self {
        match selection {
            KeySelection::None => Selection::Word("none"),
            KeySelection::All => Selection::Word("all"),
            KeySelection::Only(names) => Selection::List(names.clone()),
        }
    }
}

fn seconds(value: u64) -> String {
    format!("{value}s")
}

impl CachePolicySection {
    /// The section of `policy`, compressing when the behaviour does and the key carries an
    /// encoding.
    pub fn new(policy: &KeyPolicy, compress: bool) -> Self {
        CachePolicySection {
            preset: policy.preset.map(str::to_string),
            min_ttl: seconds(policy.min_ttl),
            default_ttl: seconds(policy.default_ttl),
            max_ttl: seconds(policy.max_ttl),
            query_strings: (&policy.query_strings).into(),
            headers: if policy.headers.is_empty() {
                Selection::Word("none")
            } else {
                Selection::List(policy.headers.clone())
            },
            cookies: (&policy.cookies).into(),
            compress: compress && (policy.gzip || policy.brotli),
        }
    }
}

/// The file's text: the comment block (`header` lines, then `not_emulated` items), then the
/// TOML.
pub fn render(
    file: &TopologyFile,
    header: &[String],
    not_emulated: &[String],
) -> Result<String, toml::ser::Error> {
    let mut text = String::new();
    for line in header {
        text.push_str(&format!("# {line}\n"));
    }
    text.push_str("#\n");
    if not_emulated.is_empty() {
        text.push_str("# Not emulated: nothing (every setting of the distribution is mapped).\n");
    } else {
        text.push_str("# Not emulated by edgelab (listed here and on standard error):\n");
        for item in not_emulated {
            text.push_str(&format!("#   - {item}\n"));
        }
    }
    text.push('\n');
    text.push_str(&toml::to_string(file)?);
    Ok(text)
}
