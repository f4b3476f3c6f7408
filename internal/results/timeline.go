package results

import "html/template"

// TimelineSVG draws r on the guest's clock as an inline SVG (being written).
func TimelineSVG(r *Result) template.HTML { return "" }
