package models

// CountSide counts the pair's mappings that carry a record id on one side
// (the brake's "mapped count" for an incremental side). It walks the
// partial unique index of that side.
func (s *Store) CountSide(pairID uint, side string) (int, error) {
	var n int64
	col := idColumn(side)
	err := s.DB.Model(&Mapping{}).Where("pair_id = ? AND "+col+" <> ''", pairID).Count(&n).Error
	return int(n), err
}
