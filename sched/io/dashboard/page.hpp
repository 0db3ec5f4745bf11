// The dashboard page served at "/" (page.cpp): one self-contained HTML document.
#pragma once

#include <string_view>

namespace spindle::detail {

// dashboard_page returns the page: inline style and script, no network access but its own polls of
// /stats.json and /fibers.
std::string_view dashboard_page() noexcept;

}  // namespace spindle::detail
