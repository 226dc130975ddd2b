//! Every document is bounded by its *expanded* size before the engine looks at it (its own
//! parse step walks fragments without memo), validates or runs it, on HTTP and the
//! websocket alike: fields counted through every fragment spread (memoized,
//! so a fragment that spreads another twice, 26 times over, costs 26 steps to measure and is
//! refused, not expanded to 2^26 fields), and root fields counted the same way, so a
//! thousand aliases of `__schema` cannot build a 400 MB answer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use async_graphql::{ServerResult, Variables};

/// Most fields one operation may select once its fragments are expanded (the console's
/// biggest page asks about 40; the standard introspection query about 200).
pub const MAX_EXPANDED_FIELDS: usize = 5_000;
/// Most fields at the root of one operation, aliases and fragments included.
pub const MAX_ROOT_FIELDS: usize = 32;
/// Deepest nesting of selections and fragments the measure follows.
const MAX_NESTING: usize = 64;

/// The schema extension that refuses oversized documents right after parsing.
pub struct DocumentBounds;

impl ExtensionFactory for DocumentBounds {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentBounds)
    }
}

#[async_trait::async_trait]
impl Extension for DocumentBounds {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // Measured on a parse of our own, before the engine's: its recursion-depth check
        // walks every fragment spread without memo (2^26 visits for the 26-level bomb).
        // A document that does not parse is the engine's to refuse, with its message.
        if let Ok(document) = async_graphql::parser::parse_query(query) {
            check(&document)
                .map_err(|why| super::coded_server_error(app::ErrorCode::Validation, &why))?;
        }
        next.run(ctx, query, variables).await
    }
}

/// Why a document is too big to run, if it is.
pub fn check(document: &ExecutableDocument) -> Result<(), String> {
    let operations: Vec<&SelectionSet> = match &document.operations {
        DocumentOperations::Single(op) => vec![&op.node.selection_set.node],
        DocumentOperations::Multiple(ops) => {
            ops.values().map(|op| &op.node.selection_set.node).collect()
        }
    };
    let mut all = Measure::new(document, true);
    let mut roots = Measure::new(document, false);
    for selection in operations {
        let fields = all.of(selection, 0)?;
        if fields > MAX_EXPANDED_FIELDS {
            return Err(too_many(fields));
        }
        let at_root = roots.of(selection, 0)?;
        if at_root > MAX_ROOT_FIELDS {
            return Err(format!(
                "the operation selects {at_root} root fields (aliases and fragments included); at most {MAX_ROOT_FIELDS}"
            ));
        }
    }
    Ok(())
}

fn too_many(fields: usize) -> String {
    format!(
        "the operation selects more than {} fields once its fragments are expanded ({fields} counted); at most {MAX_EXPANDED_FIELDS}",
        MAX_EXPANDED_FIELDS
    )
}

/// Counts fields through fragments, each fragment measured once.
struct Measure<'a> {
    document: &'a ExecutableDocument,
    /// Whether fields below a field count (all of them) or only those at this level (roots).
    nested: bool,
    sizes: HashMap<&'a str, usize>,
    open: HashSet<&'a str>,
}

impl<'a> Measure<'a> {
    fn new(document: &'a ExecutableDocument, nested: bool) -> Self {
        Measure {
            document,
            nested,
            sizes: HashMap::new(),
            open: HashSet::new(),
        }
    }

    fn of(&mut self, set: &'a SelectionSet, depth: usize) -> Result<usize, String> {
        if depth > MAX_NESTING {
            return Err(format!(
                "selections and fragments nest deeper than {MAX_NESTING}"
            ));
        }
        let mut total: usize = 0;
        for item in &set.items {
            let size = match &item.node {
                Selection::Field(f) if self.nested => {
                    1 + self.of(&f.node.selection_set.node, depth + 1)?
                }
                Selection::Field(_) => 1,
                Selection::InlineFragment(i) => self.of(&i.node.selection_set.node, depth + 1)?,
                Selection::FragmentSpread(s) => self.fragment(&s.node.fragment_name.node, depth)?,
            };
            total = total.saturating_add(size);
            // Past the bound the exact figure does not matter: stop measuring.
            if total > MAX_EXPANDED_FIELDS {
                return Ok(total);
            }
        }
        Ok(total)
    }

    fn fragment(&mut self, name: &'a str, depth: usize) -> Result<usize, String> {
        if let Some(size) = self.sizes.get(name) {
            return Ok(*size);
        }
        // An unknown fragment or a cycle is validation's to refuse, with its own message.
        let Some(fragment) = self.document.fragments.get(name) else {
            return Ok(0);
        };
        if !self.open.insert(name) {
            return Ok(0);
        }
        let size = self.of(&fragment.node.selection_set.node, depth + 1)?;
        self.open.remove(name);
        self.sizes.insert(name, size);
        Ok(size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn measured(query: &str) -> Result<(), String> {
        check(&async_graphql::parser::parse_query(query).unwrap())
    }

    /// `query { ...F<levels> }`, each fragment spreading the previous one twice.
    pub(crate) fn fragment_bomb(levels: usize) -> String {
        let mut q = format!("query {{ ...F{levels} }}\nfragment F0 on Query {{ me {{ kind }} }}\n");
        for i in 1..=levels {
            q.push_str(&format!(
                "fragment F{i} on Query {{ ...F{} ...F{} }}\n",
                i - 1,
                i - 1
            ));
        }
        q
    }

    #[test]
    fn a_fragment_bomb_is_measured_in_steps_and_refused() {
        let refused = measured(&fragment_bomb(26)).unwrap_err();
        assert!(refused.contains("more than 5000 fields"), "{refused}");
        // Measured, not expanded: the 26-level bomb and a 60-level one refuse alike.
        assert!(measured(&fragment_bomb(60)).is_err());
        // A few levels are an ordinary query.
        assert!(measured(&fragment_bomb(3)).is_ok());
    }

    #[test]
    fn an_alias_flood_is_refused_by_its_root_fields() {
        let flood: String = (0..40)
            .map(|i| format!("a{i}: __schema {{ types {{ name }} }} "))
            .collect();
        let refused = measured(&format!("{{ {flood} }}")).unwrap_err();
        assert!(refused.contains("40 root fields"), "{refused}");
        let nested: String = (0..6_000).map(|i| format!("a{i}: kind ")).collect();
        let refused = measured(&format!("{{ me {{ {nested} }} }}")).unwrap_err();
        assert!(refused.contains("at most 5000"), "{refused}");
    }

    #[test]
    fn cycles_and_unknown_fragments_are_left_to_validation() {
        assert!(measured(
            "query { ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
        )
        .is_ok());
        assert!(measured("query { ...Missing }").is_ok());
    }
}
