package apiserver

import (
	v1 "orch.io/orch/api/v1"
)

// admitLimitRanges is the LimitRanger admission of Kubernetes for a new
// pod: the namespace's LimitRanges give its containers their default limits
// and requests, then their min, max and maxLimitRequestRatio are checked; a
// violation is 403 Forbidden in Kubernetes' words. It runs after defaulting
// and before validation. Like Kubernetes' admission, which reads an informer
// cache, it reads this master's store without a read barrier: a LimitRange
// created a moment ago on another master may not apply yet.
func (s *Server) admitLimitRanges(obj v1.Object) error {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return nil
	}
	lrs, err := s.backend.Store().LimitRanges(p.Namespace)
	if err != nil || len(lrs) == 0 {
		return err
	}
	v1.ApplyLimitRangeDefaults(p, lrs)
	if err := v1.ValidateLimitRanges(p, lrs); err != nil {
		name := p.Name
		if name == "" {
			name = p.GenerateName
		}
		return v1.NewForbiddenFor("pods", name, err)
	}
	return nil
}
