//! `#[derive(ModuleConstants)]` for burn-prune: lets structural compaction reach the Burn
//! modules inside your model whose sizes are plain fields (a convolution's `groups`, a
//! `GroupNorm`'s `num_groups`, an LSTM's `d_hidden`, an attention's heads).
//!
//! The derived impl visits every field under the name Burn's `Module` derive gives it (the
//! field name; the variant name for an enum), so paths match parameter paths. Use it next to
//! `#[derive(Module)]`:
//!
//! ```ignore
//! #[derive(Module, Debug, ModuleConstants)]
//! struct Net { conv: Conv2d, norm: GroupNorm }
//! ```
//!
//! The generated code names the trait through the `burn_prune` crate; a crate that depends on
//! `burn-prune-core` directly writes `#[module_constants(crate = "burn_prune_core")]`. A field
//! marked `#[module_constants(skip)]` is not visited.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::quote;
use syn::{Data, DeriveInput, Fields, LitStr, parse_macro_input, parse_quote};

/// Derive `ModuleConstants` (see the crate documentation).
#[proc_macro_derive(ModuleConstants, attributes(module_constants))]
pub fn derive_module_constants(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<Tokens> {
    let mut krate: syn::Path = parse_quote!(::burn_prune);
    for attr in &input.attrs {
        if attr.path().is_ident("module_constants") {
            attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let s: LitStr = meta.value()?.parse()?;
                    krate = s.parse()?;
                    Ok(())
                } else {
                    Err(meta.error("expected `crate = \"path\"`"))
                }
            })?;
        }
    }
    let trait_path: syn::Path = parse_quote!(#krate::structure::ModuleConstants);
    let update_path: syn::Path = parse_quote!(#krate::structure::ConstantUpdate);
    for param in input.generics.type_params_mut() {
        param.bounds.push(parse_quote!(#trait_path));
    }
    let body = match &input.data {
        Data::Struct(s) => {
            let visits = fields(&s.fields, |name, member| {
                quote! { update.visit(#name, &mut self.#member); }
            })?;
            quote! { #(#visits)* }
        }
        Data::Enum(e) => {
            let mut arms = Vec::new();
            for v in &e.variants {
                let ident = &v.ident;
                let name = ident.to_string();
                match &v.fields {
                    Fields::Unnamed(f) if f.unnamed.len() == 1 => {
                        arms.push(quote! { Self::#ident(module) => update.visit(#name, module), });
                    }
                    Fields::Unit => arms.push(quote! { Self::#ident => {} }),
                    _ => {
                        return Err(syn::Error::new_spanned(
                            v,
                            "ModuleConstants: enum variants must hold one module (as Burn's Module derive requires)",
                        ));
                    }
                }
            }
            quote! { match self { #(#arms)* } }
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "ModuleConstants cannot be derived for a union",
            ));
        }
    };
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #trait_path for #name #ty_generics #where_clause {
            fn update_constants(&mut self, update: &mut #update_path<'_>) {
                #body
            }
        }
    })
}

/// One visit per field not marked `skip`, named as Burn's `Module` derive names it.
fn fields(fields: &Fields, visit: impl Fn(&str, Tokens) -> Tokens) -> syn::Result<Vec<Tokens>> {
    let mut out = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let mut skip = false;
        for attr in &f.attrs {
            if attr.path().is_ident("module_constants") {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("skip") {
                        skip = true;
                        Ok(())
                    } else {
                        Err(meta.error("expected `skip`"))
                    }
                })?;
            }
        }
        if skip {
            continue;
        }
        match &f.ident {
            Some(ident) => out.push(visit(&ident.to_string(), quote!(#ident))),
            None => {
                let index = syn::Index::from(i);
                out.push(visit(&i.to_string(), quote!(#index)));
            }
        }
    }
    Ok(out)
}
