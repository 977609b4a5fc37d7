// File: attribute_index.h
// The attribute index behind Store::FindUsersByAttribute / FindGroupsByAttribute (identitystore
// GetUserId / GetGroupId, ListUsers/ListGroups filters, the jwt-bearer user match): which
// (path, value) pairs a record is found under. Shared by every backend so they index alike.
// Pure functions; thread-safe.
//
// Paths are lower-cased dotted member names of the identitystore document ("username",
// "emails.value", "name.givenname", "externalids.id"), plus "id", "displayname" and
// "externalid" (value: ExternalIdValue(issuer, id)). Values of "username" and "emails.value" are
// ASCII-lower-cased (the identity store compares them case-insensitively); the rest are exact.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ts/storage/records.h"

namespace ts::storage {

using IndexEntry = std::pair<std::string, std::string>;  // (path, value)

// The canonical form of a lookup: the path lower-cased and, for case-insensitive paths, the
// value too. Backends apply it to the arguments of the Find* methods.
IndexEntry CanonicalLookup(std::string_view path, std::string_view value);

// The value under which an ExternalId {Issuer, Id} is indexed (path "externalid").
std::string ExternalIdValue(std::string_view issuer, std::string_view id);

// Every entry a user is found under: "id", "username", "displayname" from the record, and every
// string leaf of attributes_json (lists contribute each element). Canonical, sorted, unique.
// A malformed attributes_json contributes nothing beyond the record's own columns.
std::vector<IndexEntry> UserIndexEntries(const User& user);

// "id", "displayname" and "externalid" entries of a group. Canonical, sorted, unique.
std::vector<IndexEntry> GroupIndexEntries(const Group& group);

}  // namespace ts::storage
