// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/**
 * @title JstMonth
 * @notice Calendar months in Japan Standard Time (UTC+9, no daylight saving), as the points buckets of
 * issue 15 count them (docs/coin-storage.md §1.1): month index `(year - 2000) * 12 + (month - 1)`, so
 * 2026-12 is 323. A point credited with expiry month `m` counts until `start(m + 1)`, the first second of the
 * next JST month.
 * @dev Howard Hinnant's days-from-civil and civil-from-days algorithms on the proleptic Gregorian calendar,
 * shifted by +9 h. Defined for instants from 2000-01-01 00:00 JST on (earlier ones revert on underflow); the
 * Python mirror is `protocol.points`, and both are tested against `zoneinfo("Asia/Tokyo")`.
 */
library JstMonth {
    uint256 private constant _JST_OFFSET = 9 hours;
    uint256 private constant _DAY = 1 days;
    /// @dev Days from 0000-03-01 to 1970-01-01 in Hinnant's shifted era arithmetic.
    uint256 private constant _EPOCH_SHIFT = 719_468;

    /// @notice The month index of the JST calendar month containing unix second `timestamp`.
    function monthOf(uint256 timestamp) internal pure returns (uint256) {
        (uint256 year, uint256 month) = _civilFromDays((timestamp + _JST_OFFSET) / _DAY);
        return (year - 2000) * 12 + (month - 1);
    }

    /// @notice The unix second at which JST month index `month` begins (its first day, 00:00 JST).
    function start(uint256 month) internal pure returns (uint256) {
        return _daysFromCivil(2000 + month / 12, (month % 12) + 1) * _DAY - _JST_OFFSET;
    }

    /// @dev Days since 1970-01-01 of the first day of `month` (1-12) in `year` (year >= 1970).
    /// Unchecked: every intermediate is non-negative and small for year >= 1970 (start() passes >= 2000).
    function _daysFromCivil(uint256 year, uint256 month) private pure returns (uint256) {
        unchecked {
            if (month <= 2) year -= 1;
            uint256 era = year / 400;
            uint256 yoe = year - era * 400; // [0, 399]
            uint256 doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5; // day 1 of the month, [0, 365]
            uint256 doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
            return era * 146_097 + doe - _EPOCH_SHIFT;
        }
    }

    /// @dev The (year, month 1-12) of day `day` since 1970-01-01.
    /// Unchecked: every intermediate is non-negative and bounded as noted (the days of any uint64 timestamp).
    function _civilFromDays(uint256 day) private pure returns (uint256 year, uint256 month) {
        unchecked {
            uint256 z = day + _EPOCH_SHIFT;
            uint256 era = z / 146_097;
            uint256 doe = z - era * 146_097; // [0, 146096]
            uint256 yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
            uint256 doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
            uint256 mp = (5 * doy + 2) / 153; // [0, 11], March-based
            month = mp < 10 ? mp + 3 : mp - 9;
            year = yoe + era * 400 + (month <= 2 ? 1 : 0);
        }
    }
}
