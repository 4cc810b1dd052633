//! The server pointer: the CSS cursor of the user's own canvas, and for observers and
//! replays an image drawn over the canvas where the user points.

use leptos::html::Canvas as CanvasTag;
use leptos::prelude::*;
use vigil_decode::protocol::PointerShape;
use wasm_bindgen::JsCast;
use web_sys::HtmlCanvasElement;

use super::engine::Desktop;

/// How to show the server pointer.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PointerLook {
    /// Nothing heard yet: the browser's own arrow for the user, nothing for observers.
    #[default]
    Unknown,
    Hidden,
    Default,
    Image {
        url: String,
        hot_x: u16,
        hot_y: u16,
        width: u16,
        height: u16,
    },
}

/// A plain arrow for observers when the server asks for its default pointer.
const ARROW_URL: &str = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='12' height='19' viewBox='0 0 12 19'%3E%3Cpath d='M.5.5v16l4-4 3 6 2-1-3-6h5.5z' fill='%23fff' stroke='%23000'/%3E%3C/svg%3E";

/// A pointer bitmap as a PNG `data:` URL (allowed by the CSP's `img-src`).
fn image_url(width: u16, height: u16, rgba: &[u8]) -> Option<String> {
    let doc = web_sys::window()?.document()?;
    let canvas: HtmlCanvasElement = doc.create_element("canvas").ok()?.dyn_into().ok()?;
    canvas.set_width(u32::from(width));
    canvas.set_height(u32::from(height));
    let ctx: web_sys::CanvasRenderingContext2d = canvas.get_context("2d").ok()??.dyn_into().ok()?;
    let img = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
        wasm_bindgen::Clamped(rgba),
        u32::from(width),
        u32::from(height),
    )
    .ok()?;
    ctx.put_image_data(&img, 0.0, 0.0).ok()?;
    canvas.to_data_url().ok()
}

impl PointerLook {
    pub fn from_shape(shape: PointerShape) -> PointerLook {
        match shape {
            PointerShape::Hidden => PointerLook::Hidden,
            PointerShape::Default => PointerLook::Default,
            PointerShape::Bitmap {
                width,
                height,
                hot_x,
                hot_y,
                rgba,
            } => match image_url(width, height, &rgba) {
                Some(url) if width > 0 && height > 0 => PointerLook::Image {
                    url,
                    hot_x,
                    hot_y,
                    width,
                    height,
                },
                _ => PointerLook::Default,
            },
        }
    }

    /// The CSS `cursor` for the user's own canvas.
    fn css_cursor(&self) -> String {
        match self {
            PointerLook::Unknown | PointerLook::Default => "default".into(),
            PointerLook::Hidden => "none".into(),
            PointerLook::Image {
                url, hot_x, hot_y, ..
            } => format!("url({url}) {hot_x} {hot_y}, default"),
        }
    }

    /// The image to draw for observers: (url, hot spot x, y, width, height).
    fn image(&self) -> Option<(String, u16, u16, u16, u16)> {
        match self {
            PointerLook::Image {
                url,
                hot_x,
                hot_y,
                width,
                height,
            } => Some((url.clone(), *hot_x, *hot_y, *width, *height)),
            PointerLook::Default => Some((ARROW_URL.to_string(), 0, 0, 12, 19)),
            PointerLook::Unknown | PointerLook::Hidden => None,
        }
    }
}

/// The user moves their own pointer: the server only chooses its shape, as the canvas's
/// CSS cursor.
pub fn follow_shape(desktop: Desktop, node: NodeRef<CanvasTag>) {
    Effect::new(move |_| {
        let cursor = desktop.pointer.with(PointerLook::css_cursor);
        if let Some(el) = node.get() {
            let _ = web_sys::HtmlElement::style(&el).set_property("cursor", &cursor);
        }
    });
}

/// For observers and replays: the pointer drawn over the canvas, where the user points.
pub fn overlay(desktop: Desktop, node: NodeRef<CanvasTag>) -> impl IntoView {
    move || {
        let (x, y) = desktop.pointer_at.get()?;
        let (url, hot_x, hot_y, w, h) = desktop.pointer.with(PointerLook::image)?;
        let el = node.get()?;
        desktop.size.track();
        let scale = f64::from(el.offset_width()) / f64::from(el.width().max(1));
        let left = f64::from(el.offset_left()) + (f64::from(x) - f64::from(hot_x)) * scale;
        let top = f64::from(el.offset_top()) + (f64::from(y) - f64::from(hot_y)) * scale;
        let style = format!(
            "left:{left:.1}px;top:{top:.1}px;width:{:.1}px;height:{:.1}px",
            f64::from(w) * scale,
            f64::from(h) * scale
        );
        Some(view! {
            <img class="pointer-overlay" data-testid="pointer-overlay" alt="" src=url style=style
                data-x=x data-y=y/>
        })
    }
}
