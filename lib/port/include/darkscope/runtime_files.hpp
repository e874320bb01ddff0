// What EAL leaves of a run after rte_eal_cleanup(), removed at darkscope's exit.
#pragma once

#include <string>

namespace darkscope {

// Removes what EAL created for --file-prefix `prefix` and left after rte_eal_cleanup(): the
// files of `runtime_dir` (/var/run/dpdk/PREFIX: fbarray_*, hugepage_info, config, a socket
// left over) and the directory once empty, and the hugepage files PREFIXmap_N on every
// hugetlbfs mount. Call it as the primary process, after rte_eal_cleanup(), before exiting: the
// primary's lock on `config` (held until exit) keeps any other primary off this prefix, and a
// file another process still uses (a secondary such as dpdk-dumpcap holds a shared lock on each
// fbarray and hugepage file, as EAL's processes do; /proc/locks names the holders) is left
// where it is.
void remove_eal_files(const std::string& runtime_dir, const std::string& prefix);

}  // namespace darkscope
