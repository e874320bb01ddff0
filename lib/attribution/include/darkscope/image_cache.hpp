// Where compiled attribution images live: one file per set of databases, named by a hash of
// their kinds and paths, in the --geo-cache directory, else beside the first database, else in
// the per-user cache directory.
#pragma once

#include <string>
#include <vector>

#include "darkscope/geo_image.hpp"

namespace darkscope::geo_image {

// File name of the image of these sources ("geo-<16 hex digits>.dsgeo").
std::string image_name(const std::vector<Source>& sources);

// Directories to look for the image in, in order: the configured one only, when given; else the
// first database's directory, then $XDG_CACHE_HOME/darkscope (or ~/.cache/darkscope).
std::vector<std::string> cache_dirs(const std::string& configured,
                                    const std::vector<Source>& sources);

// Whether darkscope may write an image into DIR, creating it when it is the per-user cache: the
// directory exists, is writable, and its mode grants write to someone (a directory marked
// read-only is left alone, also by root). Otherwise *why says why not.
bool writable_dir(const std::string& dir, bool create, std::string* why);

}  // namespace darkscope::geo_image
