// hclcheck parses HCL files with HashiCorp's own parser (hashicorp/hcl/v2) and checks that each
// is already in canonical `packer fmt` / `terraform fmt` form (hclwrite.Format, the formatter
// both tools use). It prints one line per problem and exits 1 if there is any.
//
// Usage: hclcheck FILE...
package main

import (
	"bytes"
	"fmt"
	"io/ioutil"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
)

func main() {
	failed := false
	for _, path := range os.Args[1:] {
		src, err := ioutil.ReadFile(path)
		if err != nil {
			fmt.Printf("%s: %v\n", path, err)
			failed = true
			continue
		}
		_, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
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
	}
	if failed {
		os.Exit(1)
	}
}
