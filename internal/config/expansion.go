package config

import "go.yaml.in/yaml/v3"

// This file guards against YAML alias bombs ("billion laughs"): a few
// hundred bytes of nested anchors and aliases that expand to millions of
// nodes when the document is turned into values.

// maxExpandedNodes caps the number of nodes a document may hold once every
// alias is expanded: far above any real configuration (a thousand backends
// sharing settings through anchors stay under 100,000), far below what
// costs noticeable time or memory.
const maxExpandedNodes = 1_000_000

// checkExpansion reports an error, at the alias that passes the cap, when
// the tree under root holds more than maxExpandedNodes nodes with its
// aliases expanded, or when an alias refers to a node that contains it
// (which would expand forever). The count is memoised per node, so the
// check costs one walk over the nodes as written.
func (d *decoder) checkExpansion(root *yaml.Node) bool {
	sizes := map[*yaml.Node]int{}
	var size func(n *yaml.Node) int // expanded size, capped at maxExpandedNodes+1
	size = func(n *yaml.Node) int {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
			if n == nil {
				return 1
			}
		}
		if s, ok := sizes[n]; ok {
			return s
		}
		sizes[n] = maxExpandedNodes + 1 // while in progress: a cycle is too big
		s := 1
		for _, c := range n.Content {
			s = min(s+size(c), maxExpandedNodes+1)
		}
		sizes[n] = s
		return s
	}
	// Walk the nodes as written, in document order, adding the expanded size
	// of each alias, and stop at the alias that passes the cap.
	total := 0
	var walk func(n *yaml.Node, inside map[*yaml.Node]bool) *yaml.Node
	walk = func(n *yaml.Node, inside map[*yaml.Node]bool) *yaml.Node {
		if n.Kind == yaml.AliasNode {
			if inside[n.Alias] {
				d.errorf(n, "", "the alias *%s refers to a node that contains it", n.Value)
				return n
			}
			if n.Alias != nil {
				total += size(n.Alias)
			}
		} else {
			total++
		}
		if total > maxExpandedNodes {
			d.errorf(n, "", "with its aliases expanded the document holds more than %d nodes (a YAML alias bomb?); this alias passes the limit", maxExpandedNodes)
			return n
		}
		if n.Kind == yaml.AliasNode {
			return nil
		}
		inside[n] = true
		defer delete(inside, n)
		for _, c := range n.Content {
			if bad := walk(c, inside); bad != nil {
				return bad
			}
		}
		return nil
	}
	return walk(root, map[*yaml.Node]bool{}) == nil
}
