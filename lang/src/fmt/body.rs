//! The one-construct-per-line layout shared by the file, declaration bodies, broken records
//! and lists, match arms, param checks and policy rules — and where their comments go.
//!
//! A comment belongs to the innermost body around it: before a node it is printed on its
//! own line above the node; on the line where a node ends it stays at the end of that line;
//! after the last node it stays at the end of the body; right after the opening bracket it
//! stays there. A comment inside a node but outside any nested body (say between `resource`
//! and its type, or inside `${…}`) moves up to just before the node — above an item's `///`
//! documentation, so that moving a comment never changes what the item's `doc` is.

use super::printer::{Mode, Printer};
use super::spans::{self, Range};
use crate::ast::{Check, Entry, Expr, Item, MatchArm, PolicyRule};

/// A construct printed on a line (or lines) of its own.
#[derive(Clone, Copy)]
pub(super) enum Node<'n> {
    Item(&'n Item),
    /// `comma`: print `,` after the entry (see `exprs::entry_nodes`).
    Entry {
        entry: &'n Entry,
        comma: bool,
    },
    Element(&'n Expr),
    Arm(&'n MatchArm),
    Check(&'n Check),
    Rule(&'n PolicyRule),
}

impl Node<'_> {
    fn start(&self) -> u32 {
        match self {
            Node::Item(item) => item.span.start,
            Node::Entry { entry, .. } => entry.span.start,
            Node::Element(expr) => expr.span.start,
            Node::Arm(arm) => arm.span.start,
            Node::Check(check) => check.span.start,
            Node::Rule(rule) => rule.span.start,
        }
    }

    fn end(&self) -> u32 {
        match self {
            Node::Item(item) => spans::item_end(item),
            Node::Entry { entry, .. } => spans::expr_end(&entry.value),
            Node::Element(expr) => spans::expr_end(expr),
            Node::Arm(arm) => spans::expr_end(&arm.body),
            Node::Check(check) => spans::check_end(check),
            Node::Rule(rule) => spans::expr_end(&rule.message),
        }
    }

    /// Ranges inside the node whose comments nested bodies print.
    fn containers(&self) -> Vec<Range> {
        let mut out = Vec::new();
        match self {
            Node::Item(item) => out = spans::item_containers(item),
            Node::Entry { entry, .. } => spans::expr_containers(&entry.value, &mut out),
            Node::Element(expr) => spans::expr_containers(expr, &mut out),
            Node::Arm(arm) => spans::expr_containers(&arm.body, &mut out),
            Node::Check(check) => {
                spans::expr_containers(&check.condition, &mut out);
                spans::expr_containers(&check.message, &mut out);
            }
            Node::Rule(rule) => {
                spans::expr_containers(&rule.condition, &mut out);
                spans::expr_containers(&rule.message, &mut out);
            }
        }
        out
    }
}

/// Nodes between an opening and a closing position; comments from `open` up to `close`
/// belong to the body.
pub(super) struct Body<'n> {
    /// The opening bracket, or the end of the header when there is none (param checks).
    pub(super) open: u32,
    /// The closing bracket, or the end of the last node.
    pub(super) close: u32,
    pub(super) nodes: Vec<Node<'n>>,
}

/// The comments printed on their own lines before a node, and any kept inside it.
#[derive(Default)]
struct Leading {
    /// Comment indices; `true` marks a comment moved out of the node.
    before: Vec<(usize, bool)>,
    /// For the item's header (see [`Printer::place_item_comments`]).
    into_header: Vec<usize>,
}

impl Printer<'_> {
    /// Whether a body has nothing to print, so it can be written `{}`.
    pub(super) fn body_is_empty(&self, open: u32, close: u32, nodes: usize) -> bool {
        nodes == 0 && (self.mode != Mode::Normal || self.unclaimed(open, close).is_empty())
    }

    /// Prints `body` one node per line at the current indentation, which the caller raised;
    /// the caller wrote the opener and writes the closer on the next line.
    pub(super) fn body(&mut self, body: &Body<'_>) {
        if self.mode == Mode::TryInline {
            // A body always spans lines, so the attempt has failed already.
            self.write("\n");
            return;
        }
        let first_start = body.nodes.first().map_or(body.close, Node::start);
        // Comments right after the opening bracket stay on its line.
        let mut last_end = self.trailing(body.open, first_start, true).max(body.open);
        let mut first = true;
        for (i, node) in body.nodes.iter().enumerate() {
            let limit = body.nodes.get(i + 1).map_or(body.close, Node::start);
            last_end = self.node_with_comments(body.open, node, limit, last_end, &mut first);
        }
        self.end_comments(body.open, body.close, last_end, first);
    }

    /// Prints one node of a body with the comments above and beside it; returns where in
    /// the source the printed text ends.
    fn node_with_comments(
        &mut self,
        open: u32,
        node: &Node<'_>,
        limit: u32,
        last_end: u32,
        first: &mut bool,
    ) -> u32 {
        let (start, end) = (node.start(), node.end());
        let leading = self.leading(open, node);
        let last_end = self.comments_above(&leading.before, start, last_end, first);
        let blank = !*first && self.blank_between(last_end, start);
        self.start_line(blank);
        *first = false;
        self.header_comments = leading.into_header;
        self.node(node);
        let unplaced = std::mem::take(&mut self.header_comments);
        let last_end = last_end.max(end).max(self.trailing(end, limit, false));
        // Only a bug leaves some: print them after the node rather than lose them.
        for index in unplaced {
            self.start_line(false);
            self.comment(index);
        }
        last_end
    }

    /// Writes the comments above a node, each on its own line (see `comment_line`); for
    /// blank lines a moved comment counts as standing right before the node, at `start`.
    fn comments_above(
        &mut self,
        comments: &[(usize, bool)],
        start: u32,
        mut last_end: u32,
        first: &mut bool,
    ) -> u32 {
        let mut previous = None;
        for &(index, moved) in comments {
            let span = self.comments[index].span;
            let (from, to) = if moved {
                (start, start)
            } else {
                (span.start, span.end)
            };
            let blank = !*first && self.blank_between(last_end, from);
            if moved {
                self.start_line(blank);
                self.comment(index);
            } else {
                self.comment_line(index, previous, blank);
            }
            last_end = last_end.max(to);
            previous = (!moved).then_some(index);
            *first = false;
        }
        last_end
    }

    /// Decides which comments go before `node`: those between the previous node and this
    /// one, then those inside it that no nested body prints.
    fn leading(&mut self, open: u32, node: &Node<'_>) -> Leading {
        let start = node.start();
        let before = self.unclaimed(open, start);
        let containers = node.containers();
        let moved: Vec<usize> = self
            .unclaimed(start, node.end())
            .into_iter()
            .filter(|&i| !spans::contains(&containers, self.comments[i].span.start))
            .collect();
        for &index in before.iter().chain(&moved) {
            self.claimed[index] = true;
        }
        match node {
            Node::Item(_) if !moved.is_empty() => self.place_item_comments(before, moved),
            _ => Leading {
                before: before
                    .into_iter()
                    .map(|i| (i, false))
                    .chain(moved.into_iter().map(|i| (i, true)))
                    .collect(),
                ..Leading::default()
            },
        }
    }

    /// Places comments moved out of an item without changing its documentation: the
    /// `///` lines directly above an item become its `doc`, so moved comments go above
    /// that run, non-doc ones last so they end any run of their own. When every moved
    /// comment is a `///` one they would join the run instead, so they stay in the item's
    /// header, after its keyword.
    fn place_item_comments(&self, before: Vec<usize>, mut moved: Vec<usize>) -> Leading {
        moved.sort_by_key(|&i| !self.is_doc(i));
        let mut leading = Leading::default();
        if moved.last().is_some_and(|&i| self.is_doc(i)) {
            leading.into_header = std::mem::take(&mut moved);
        }
        let doc_run = before
            .iter()
            .rev()
            .take_while(|&&i| self.is_doc(i) && self.comments[i].own_line)
            .count();
        let split = before.len() - doc_run;
        leading.before = before[..split]
            .iter()
            .map(|&i| (i, false))
            .chain(moved.into_iter().map(|i| (i, true)))
            .chain(before[split..].iter().map(|&i| (i, false)))
            .collect();
        leading
    }

    /// Comments after the last node, before the closing bracket, each on its own line.
    fn end_comments(&mut self, open: u32, close: u32, mut last_end: u32, first: bool) {
        let mut previous = None;
        let mut first = first;
        for index in self.unclaimed(open, close) {
            let start = self.comments[index].span.start;
            let blank = !first && self.blank_between(last_end, start);
            self.comment_line(index, previous, blank);
            last_end = last_end.max(self.comments[index].span.end);
            previous = Some(index);
            first = false;
        }
    }

    fn node(&mut self, node: &Node<'_>) {
        // Room for the `,` after a list element, match arm or entry when measuring whether
        // its record or list fits on the line.
        self.reserve = match node {
            Node::Element(_) | Node::Arm(_) => 1,
            Node::Entry { comma, .. } => usize::from(*comma),
            _ => 0,
        };
        match node {
            Node::Item(item) => self.item(item),
            Node::Entry { entry, comma } => {
                self.entry(entry);
                if *comma {
                    self.write(",");
                }
            }
            Node::Element(expr) => {
                self.expr(expr);
                self.write(",");
            }
            Node::Arm(arm) => {
                self.arm(arm);
                self.write(",");
            }
            Node::Check(check) => self.check(check),
            Node::Rule(rule) => self.rule(rule),
        }
        self.reserve = 0;
    }
}
