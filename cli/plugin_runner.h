// PluginRunner: bt's side of Python plugins (docs/plugins.md). bt never loads Python: when a
// plugin is configured (--plugin, BTENGINE_PLUGIN_PATH, ~/.config/btengine/plugins, an installed
// package's `btengine.plugins` entry point — all checked without Python) it runs
// `python3 -m btengine.plugins` on the capture, after a live target has been let go, and reads
// back a PluginReport. A runner that fails, or outlives its deadline, becomes an error in the
// report; bt's own output is never lost to a plugin.
#pragma once

#include "snapshot/plugin_report.h"

#include <string>
#include <vector>

namespace bt {

struct PluginOptions {
  std::vector<std::string> paths;  // --plugin PATH (files or directories)
  bool none = false;               // --no-plugins: not even the configured ones
  double timeout = 5;              // --plugin-timeout: seconds per plugin function
};

// 0 if argv[i] was a plugin option (i advanced past its value), -1 if it is not one, else a usage
// exit status (the message printed).
int parsePluginOption(const char *cmd, int argc, char **argv, int &i, PluginOptions &o);

// The options again, for a command that hands over to another (bt SNAPSHOT -> bt show).
void appendPluginArgs(const PluginOptions &o, std::vector<std::string> &args);

// Whether any plugin would run. Cheap (a few directory listings): bt asks on every run.
bool pluginsConfigured(const PluginOptions &o);

// Runs the plugins on `file` (a snapshot, core or minidump; `exe` and `debugDirs` as for bt).
PluginReport runPlugins(const PluginOptions &o, const std::string &file, const std::string &exe,
                        const SymbolPaths &symbolPaths);

// A command's usage text with "%PLUGINS%" replaced by the plugin options' help.
std::string withPluginOptions(const char *usage);

}  // namespace bt
