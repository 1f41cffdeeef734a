//! Comment primitives: finding comments by position, writing one, the comments that share
//! a line with what precedes them, and whether the source had a blank line somewhere.

use super::printer::Printer;

impl Printer<'_> {
    /// Index of the first comment starting at or after `at`.
    fn first_from(&self, at: u32) -> usize {
        self.comments.partition_point(|c| c.span.start < at)
    }

    /// Whether any comment starts in `start..end`.
    pub(super) fn has_comments(&self, start: u32, end: u32) -> bool {
        self.comments
            .get(self.first_from(start))
            .is_some_and(|c| c.span.start < end)
    }

    /// The comments starting in `start..end` that nothing has printed yet.
    pub(super) fn unclaimed(&self, start: u32, end: u32) -> Vec<usize> {
        (self.first_from(start)..self.comments.len())
            .take_while(|&i| self.comments[i].span.start < end)
            .filter(|&i| !self.claimed[i])
            .collect()
    }

    fn is_line_comment(&self, index: usize) -> bool {
        self.comments[index].text.starts_with("//")
    }

    pub(super) fn is_doc(&self, index: usize) -> bool {
        self.comments[index].is_doc()
    }

    /// Writes comment `index` at the current position. Later lines of a block comment keep
    /// their text; only trailing whitespace goes.
    pub(super) fn comment(&mut self, index: usize) {
        self.claimed[index] = true;
        let text = self.comments[index]
            .text
            .lines()
            .map(str::trim_end)
            .collect::<Vec<_>>()
            .join("\n");
        self.write(&text);
    }

    /// Writes comment `index` on a line of its own, or after the previous comment when
    /// both shared a line in the source (that keeps a `///` after `/* … */` from turning
    /// into documentation).
    pub(super) fn comment_line(&mut self, index: usize, previous: Option<usize>, blank: bool) {
        let joins = previous.is_some_and(|prev| {
            !self.is_line_comment(prev)
                && !self.comments[index].own_line
                && !self
                    .between(
                        self.comments[prev].span.end,
                        self.comments[index].span.start,
                    )
                    .contains('\n')
        });
        if joins {
            self.write(" ");
        } else {
            self.start_line(blank);
        }
        self.comment(index);
    }

    /// Writes, each after a space, the comments that continue the line after position
    /// `after` and start before `limit`: the run of comments that do not start a line, up
    /// to the first `//` one (nothing can follow it on its line). With `same_line`, a line
    /// break between `after` and a comment also ends the run. Returns where the last one
    /// ends (or `after`).
    pub(super) fn trailing(&mut self, after: u32, limit: u32, same_line: bool) -> u32 {
        let mut end = after;
        for index in self.first_from(after)..self.comments.len() {
            let comment = &self.comments[index];
            if comment.span.start >= limit || comment.own_line {
                break;
            }
            if self.claimed[index] {
                continue;
            }
            if same_line && self.between(after, comment.span.start).contains('\n') {
                break;
            }
            end = comment.span.end;
            self.write(" ");
            self.comment(index);
            if self.is_line_comment(index) {
                break;
            }
        }
        end
    }

    /// Whether the source has an empty line between `from` and `to`.
    pub(super) fn blank_between(&self, from: u32, to: u32) -> bool {
        let lines: Vec<&str> = self.between(from, to).split('\n').collect();
        lines.len() > 2
            && lines[1..lines.len() - 1]
                .iter()
                .any(|l| l.trim().is_empty())
    }

    fn between(&self, from: u32, to: u32) -> &str {
        self.source.get(from as usize..to as usize).unwrap_or("")
    }

    /// Writes every comment nothing has printed yet, at the end of the output, so that a
    /// gap in the placement rules can never lose one.
    pub(super) fn leftover_comments(&mut self) {
        let mut previous = None;
        for index in self.unclaimed(0, u32::MAX) {
            self.comment_line(index, previous, false);
            previous = Some(index);
        }
    }
}
