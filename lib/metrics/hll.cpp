// Ertl's improved raw estimator for HyperLogLog (O. Ertl, "New cardinality estimation algorithms
// for HyperLogLog sketches", 2017, algorithm 6 with the sigma and tau series of algorithms 7-8).
#include "darkscope/hll.hpp"

#include <cmath>
#include <limits>

namespace darkscope::hll_detail {

namespace {

// sigma(x) = x + sum_{k>=1} x^(2^k) 2^(k-1); corrects for registers still at zero.
double sigma(double x) {
    if (x == 1.0) {
        return std::numeric_limits<double>::infinity();
    }
    double y = 1.0;
    double z = x;
    while (true) {
        x *= x;
        const double previous = z;
        z += x * y;
        y += y;
        if (z == previous) {
            return z;
        }
    }
}

// tau(x) = (1 - x - sum_{k>=1} (1 - x^(2^-k))^2 2^-k) / 3; corrects for saturated registers.
double tau(double x) {
    if (x == 0.0 || x == 1.0) {
        return 0.0;
    }
    double y = 1.0;
    double z = 1.0 - x;
    while (true) {
        x = std::sqrt(x);
        const double previous = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if (z == previous) {
            return z / 3.0;
        }
    }
}

}  // namespace

double ertl_estimate(const uint32_t* histogram, unsigned precision) {
    const unsigned q = 64 - precision;
    const double m = static_cast<double>(uint64_t{1} << precision);
    double z = m * tau(1.0 - histogram[q + 1] / m);
    for (unsigned k = q; k >= 1; --k) {
        z = 0.5 * (z + histogram[k]);
    }
    z += m * sigma(histogram[0] / m);
    constexpr double alpha_infinity = 0.721347520444481703680;  // 1 / (2 ln 2)
    return alpha_infinity * m * m / z;
}

double standard_error(unsigned precision) {
    return 1.04 / std::sqrt(static_cast<double>(uint64_t{1} << precision));
}

}  // namespace darkscope::hll_detail
