// hclcheck parses HCL files with HashiCorp's own parser (hashicorp/hcl/v2) and checks that each
// is already in canonical `packer fmt` / `terraform fmt` form (hclwrite.Format, the formatter
// both tools use). It prints one line per problem and exits 1 if there is any.
//
// With -refs it also prints, for every file that parses, each variable root an expression
// refers to ("ref FILE ROOT", such as local or aws_iam_role) and each function it calls
// ("func FILE NAME"): what a generated file evaluates, so a test can tell that no value from a
// spec became an expression.
//
// Usage: hclcheck [-refs] FILE...
package main

import (
	"bytes"
	"fmt"
	"io/ioutil"
	"os"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

func main() {
	args := os.Args[1:]
	refs := len(args) > 0 && args[0] == "-refs"
	if refs {
		args = args[1:]
	}
	failed := false
	for _, path := range args {
		src, err := ioutil.ReadFile(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		file, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			for _, d := range diags {
				fmt.Printf("%s\n", d.Error())
			}
			failed = true
			continue
		}
		if formatted := hclwrite.Format(src); !bytes.Equal(formatted, src) {
			fmt.Printf("%s: not in canonical fmt form; `terraform fmt -diff` would change it\n", path)
			failed = true
		}
		if refs {
			printRefs(path, file.Body.(*hclsyntax.Body))
		}
	}
	if failed {
		os.Exit(1)
	}
}

// printRefs prints the sorted, distinct variable roots and function names of a body.
func printRefs(path string, body *hclsyntax.Body) {
	seen := map[string]bool{}
	hclsyntax.VisitAll(body, func(node hclsyntax.Node) hcl.Diagnostics {
		switch n := node.(type) {
		case *hclsyntax.ScopeTraversalExpr:
			seen["ref "+n.Traversal.RootName()] = true
		case *hclsyntax.FunctionCallExpr:
			seen["func "+n.Name] = true
		}
		return nil
	})
	lines := make([]string, 0, len(seen))
	for line := range seen {
		lines = append(lines, line)
	}
	sort.Strings(lines)
	for _, line := range lines {
		fmt.Printf("%s %s\n", line, path)
	}
}
