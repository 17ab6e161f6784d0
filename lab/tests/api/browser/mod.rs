//! The consoles driven in headless Chromium (skipped, with a note, where Chromium or
//! chromedriver is missing).

mod chromium;
mod console;
mod manage_console;
mod setup;
mod webhooks;
