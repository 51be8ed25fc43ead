//! `waitForAuthStability`: poll until the provider, the manager and the token mirror agree.

use std::rc::Rc;

use super::Inner;
use crate::core::session::Need;
use crate::core::stability::{Poll, Sources, Stability, Verdict};
use crate::core::Millis;
use crate::web::deadline::{sleep, within};
use crate::web::now;

impl Inner {
    /// Resolves true once every auth source agrees, false after `max_wait_ms`.
    pub async fn wait_for_stability(
        self: &Rc<Self>,
        max_wait_ms: Millis,
        interval_ms: Millis,
    ) -> bool {
        let wait = Stability::new(now(), max_wait_ms, interval_ms);
        loop {
            let agreed = self.sources_agree(&wait).await;
            match wait.after(now(), agreed) {
                Poll::Stable => return true,
                Poll::TimedOut => {
                    self.log
                        .warn(&["auth sources did not agree within maxWaitMs"]);
                    return false;
                }
                Poll::Sleep(ms) => sleep(ms).await,
            }
        }
    }

    /// Samples every source once and acts on a disagreement it can settle: asks the
    /// provider when the manager is out of step, or brings a leftover mirror in line. Then
    /// samples again, so the usual case settles without waiting an interval.
    async fn sources_agree(self: &Rc<Self>, wait: &Stability) -> bool {
        let limit = || {
            let token_timeout = self.core.borrow().policy().token_timeout_ms;
            wait.remaining(now()).min(token_timeout)
        };
        let provider = match &self.config.check_session {
            None => None,
            Some(_) => match self.check_session(limit()).await {
                Some(answer) => Some(answer),
                // The provider could not say: no agreement this time.
                None => return false,
            },
        };
        let sample = |inner: &Inner| Sources {
            provider,
            manager: inner.is_authenticated(),
            mirror: inner.mirror.holds_token(),
        };
        match sample(self).verdict() {
            Verdict::Agreed => return true,
            Verdict::AskProvider => {
                let _ = within(limit(), Box::pin(self.token_for(Need::scheduled(now())))).await;
            }
            Verdict::SyncMirror => {
                // Cloned out first: no borrow across the storage call.
                let token = self.core.borrow().current_token().cloned();
                match token {
                    Some(token) => self.mirror.write(token.expose(), &self.log),
                    None => self.mirror.clear(&self.log),
                }
            }
        }
        sample(self).verdict() == Verdict::Agreed
    }
}
