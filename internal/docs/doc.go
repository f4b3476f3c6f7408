// Package docs holds no code: its tests keep docs/design.md true to the
// tree (every package named, each package's imports where its bullet says
// they are, the protocol's actions and markers listed). README's tables
// and flags are checked in internal/cli, where the commands are.
package docs
